/* otf-gui: the GTK4 client of CIANNA On-The-Fly (DESIGN §9): look at a FITS image, submit it
 * (or a region of it, or several images) to a server or to a local model, follow the job, and
 * see the detections over the image and as a table. This file builds the window, its actions
 * and keyboard shortcuts, the settings file and the status line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/otf-gui/gui.h"
#include "otf_build_config.h"

static struct otf_gui gui; /* the one window's state (main thread) */

/* ---- settings: ~/.config/otf/gui.ini (a GKeyFile) ---- */

static char *settings_path(void)
{
    return g_build_filename(g_get_user_config_dir(), "otf", "gui.ini", NULL);
}

static char *key_string(GKeyFile *k, const char *group, const char *key)
{
    return g_key_file_get_string(k, group, key, NULL);
}

static void load_settings(struct otf_gui *g)
{
    GKeyFile *k = g_key_file_new();
    char *path = settings_path(), *s;
    if (g_key_file_load_from_file(k, path, G_KEY_FILE_NONE, NULL)) {
        g->url = key_string(k, "connection", "url");
        g->token = key_string(k, "connection", "token");
        g->models_dir = key_string(k, "local", "models");
        g->model = key_string(k, "submit", "model");
        g->precision = key_string(k, "submit", "precision");
        if ((s = key_string(k, "display", "stretch")) && otf_gui_stretch_parse(s) >= 0)
            g->stretch = otf_gui_stretch_parse(s);
        g_free(s);
        if ((s = key_string(k, "display", "limits")) && otf_gui_limits_parse(s) >= 0)
            g->limits = otf_gui_limits_parse(s);
        g_free(s);
        if ((s = key_string(k, "display", "colormap")) && otf_gui_cmap_parse(s) >= 0)
            g->cmap = otf_gui_cmap_parse(s);
        g_free(s);
        g->invert = g_key_file_get_boolean(k, "display", "invert", NULL);
    }
    g_key_file_unref(k);
    g_free(path);
}

void otf_gui_save_settings(struct otf_gui *g)
{
    GKeyFile *k = g_key_file_new();
    char *path = settings_path(), *dir = g_path_get_dirname(path);
    GError *err = NULL;
    g_key_file_set_string(k, "connection", "url", g->url ? g->url : "");
    /* the token is a credential: the file is private to the user (mode 0600) */
    g_key_file_set_string(k, "connection", "token", g->token ? g->token : "");
    g_key_file_set_string(k, "local", "models", g->models_dir ? g->models_dir : "");
    g_key_file_set_string(k, "submit", "model", g->model ? g->model : "");
    g_key_file_set_string(k, "submit", "precision", g->precision ? g->precision : "FP32");
    g_key_file_set_string(k, "display", "stretch", otf_gui_stretch_name(g->stretch));
    g_key_file_set_string(k, "display", "limits", otf_gui_limits_name(g->limits));
    g_key_file_set_string(k, "display", "colormap", otf_gui_cmap_name(g->cmap));
    g_key_file_set_boolean(k, "display", "invert", g->invert);
    g_mkdir_with_parents(dir, 0700);
    if (!g_key_file_save_to_file(k, path, &err)) {
        fprintf(stderr, "otf-gui: cannot save %s: %s\n", path, err->message);
        g_clear_error(&err);
    } else {
        chmod(path, 0600);
    }
    g_key_file_unref(k);
    g_free(dir);
    g_free(path);
}

/* ---- status line and state file ---- */

void otf_gui_set_status(struct otf_gui *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_free(g->status_text);
    g->status_text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (g->status)
        gtk_label_set_text(GTK_LABEL(g->status), g->status_text);
    otf_gui_write_state(g);
}

/* --status-file: the window's state as key=value lines, rewritten (atomically) on each change,
 * for scripts and the end-to-end test. The row count is the table's own model. */
void otf_gui_write_state(struct otf_gui *g)
{
    GString *s;
    char *tmp;
    if (!g->status_file || !g->selection)
        return;
    s = g_string_new(NULL);
    g_string_append_printf(s, "status=%s\n", g->status_text ? g->status_text : "");
    g_string_append_printf(s, "net=%s\n", g->net_status ? g->net_status : "");
    g_string_append_printf(s, "image=%s\n", g->path ? g->path : "");
    if (g->pyr)
        g_string_append_printf(s, "image_size=%lldx%lld\n", (long long)g->pyr->w,
                               (long long)g->pyr->h);
    g_string_append_printf(s, "stretch=%s\nlimits=%s\ncolormap=%s\n",
                           otf_gui_stretch_name(g->stretch), otf_gui_limits_name(g->limits),
                           otf_gui_cmap_name(g->cmap));
    g_string_append_printf(s, "models=%u\n",
                           g->model_list ? g_list_model_get_n_items(G_LIST_MODEL(g->model_list))
                                         : 0);
    g_string_append_printf(s, "job=%s\nphase=%s\n", g->job_id ? g->job_id : "",
                           g->job_phase ? g->job_phase : "");
    g_string_append_printf(s, "catalog=%s\n", g->cat_source ? g->cat_source : "");
    g_string_append_printf(s, "rows=%u\n", otf_gui_table_rows(g));
    g_string_append_printf(s, "selected=%ld\n", g->selected);
    tmp = g_strconcat(g->status_file, ".tmp", NULL);
    if (g_file_set_contents(tmp, s->str, (gssize)s->len, NULL))
        rename(tmp, g->status_file);
    g_free(tmp);
    g_string_free(s, TRUE);
}

/* ---- actions ---- */

static void open_response_cb(GtkNativeDialog *d, int response, gpointer data)
{
    struct otf_gui *g = data;
    if (response == GTK_RESPONSE_ACCEPT) {
        GFile *f = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(d));
        char *p = f ? g_file_get_path(f) : NULL;
        if (p)
            otf_gui_open_image(g, p, NULL);
        g_free(p);
        if (f)
            g_object_unref(f);
    }
    g_object_unref(d);
}

static GtkFileFilter *fits_filter(void)
{
    GtkFileFilter *f = gtk_file_filter_new();
    gtk_file_filter_set_name(f, "FITS images");
    gtk_file_filter_add_pattern(f, "*.fits");
    gtk_file_filter_add_pattern(f, "*.fit");
    gtk_file_filter_add_pattern(f, "*.fts");
    gtk_file_filter_add_pattern(f, "*.FITS");
    return f;
}

static void act_open(GSimpleAction *a, GVariant *p, gpointer data)
{
    struct otf_gui *g = data;
    GtkFileChooserNative *d = gtk_file_chooser_native_new(
        "Open a FITS image", g->win, GTK_FILE_CHOOSER_ACTION_OPEN, "_Open", "_Cancel");
    GtkFileFilter *all = gtk_file_filter_new();
    (void)a, (void)p;
    gtk_file_filter_set_name(all, "All files");
    gtk_file_filter_add_pattern(all, "*");
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(d), fits_filter());
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(d), all);
    g_signal_connect(d, "response", G_CALLBACK(open_response_cb), g);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(d));
}

static void act_submit(GSimpleAction *a, GVariant *p, gpointer data)
{
    struct otf_gui *g = data;
    char *paths[1] = {g->path};
    (void)a, (void)p;
    otf_gui_submit(g, paths, g->path ? 1 : 0, 1);
}

static void submit_many_cb(GtkNativeDialog *d, int response, gpointer data)
{
    struct otf_gui *g = data;
    if (response == GTK_RESPONSE_ACCEPT) {
        GListModel *files = gtk_file_chooser_get_files(GTK_FILE_CHOOSER(d));
        guint n = g_list_model_get_n_items(files);
        char **paths = g_new0(char *, n + 1);
        int k = 0;
        for (guint i = 0; i < n; i++) {
            GFile *f = g_list_model_get_item(files, i);
            char *path = g_file_get_path(f);
            if (path)
                paths[k++] = path;
            g_object_unref(f);
        }
        otf_gui_submit(g, paths, k, 0);
        g_strfreev(paths);
        g_object_unref(files);
    }
    g_object_unref(d);
}

static void act_submit_many(GSimpleAction *a, GVariant *p, gpointer data)
{
    struct otf_gui *g = data;
    GtkFileChooserNative *d = gtk_file_chooser_native_new(
        "Submit FITS images", g->win, GTK_FILE_CHOOSER_ACTION_OPEN, "_Submit", "_Cancel");
    (void)a, (void)p;
    gtk_file_chooser_set_select_multiple(GTK_FILE_CHOOSER(d), TRUE);
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(d), fits_filter());
    g_signal_connect(d, "response", G_CALLBACK(submit_many_cb), g);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(d));
}

static void act_abort(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    otf_gui_abort(data);
}

static void act_save_vot(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    otf_gui_save_catalog(data, 0);
}

static void act_save_reg(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    otf_gui_save_catalog(data, 1);
}

static void act_save_png(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    otf_gui_save_catalog(data, 2);
}

static void act_fit(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    otf_gui_fit(data);
}

static void act_zoom_in(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    otf_gui_zoom(data, 1.5);
}

static void act_zoom_out(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    otf_gui_zoom(data, 1 / 1.5);
}

static void act_roi(GSimpleAction *a, GVariant *p, gpointer data)
{
    struct otf_gui *g = data;
    (void)a, (void)p;
    g->roi_mode = 1;
    gtk_widget_grab_focus(g->canvas);
    otf_gui_set_status(g, "drag a box on the image to set the region of interest (Esc clears)");
}

static void cycle_dd(GtkWidget *dd, int n)
{
    guint s = gtk_drop_down_get_selected(GTK_DROP_DOWN(dd));
    gtk_drop_down_set_selected(GTK_DROP_DOWN(dd), (s + 1) % (guint)n);
}

static void act_stretch(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    cycle_dd(((struct otf_gui *)data)->stretch_dd, OTF_GUI_STRETCH__COUNT);
}

static void act_cmap(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    cycle_dd(((struct otf_gui *)data)->cmap_dd, OTF_GUI_CMAP__COUNT);
}

static void act_limits(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    cycle_dd(((struct otf_gui *)data)->limits_dd, OTF_GUI_LIMITS__COUNT);
}

static void act_invert(GSimpleAction *a, GVariant *p, gpointer data)
{
    struct otf_gui *g = data;
    (void)a, (void)p;
    g->invert = !g->invert;
    otf_gui_update_display(g);
}

static void act_refresh(GSimpleAction *a, GVariant *p, gpointer data)
{
    (void)a, (void)p;
    otf_gui_refresh_models(data);
}

static void act_quit(GSimpleAction *a, GVariant *p, gpointer data)
{
    struct otf_gui *g = data;
    (void)a, (void)p;
    otf_gui_save_settings(g);
    gtk_window_destroy(g->win);
}

/* ---- SAMP: send the catalogue and the image to TOPCAT/Aladin/DS9 (docs/gui.md) ---- */

/* One send, owned by its worker thread, then by the idle callback that reports it. */
struct samp_send {
    struct otf_gui *g;
    char *table_url, *table_id, *table_name, *image_url, *image_name;
    enum otf_status st;
    int n_table, n_image;
    struct otf_client_error err;
};

static gboolean samp_done_idle(gpointer data)
{
    struct samp_send *m = data;
    if (m->st != OTF_OK)
        otf_gui_set_status(m->g, "SAMP: %s", m->err.msg);
    else if (m->table_url && m->image_url)
        otf_gui_set_status(m->g, "SAMP: catalogue sent to %d client(s), image to %d", m->n_table,
                           m->n_image);
    else if (m->table_url)
        otf_gui_set_status(m->g, "SAMP: catalogue sent to %d client(s)%s", m->n_table,
                           m->n_table ? "" : " (start TOPCAT or Aladin)");
    else
        otf_gui_set_status(m->g, "SAMP: image sent to %d client(s)%s", m->n_image,
                           m->n_image ? "" : " (start Aladin or DS9)");
    g_free(m->table_url);
    g_free(m->table_id);
    g_free(m->table_name);
    g_free(m->image_url);
    g_free(m->image_name);
    g_free(m);
    return G_SOURCE_REMOVE;
}

static gpointer samp_thread(gpointer data)
{
    struct samp_send *m = data;
    struct otf_client_samp_send s = {
        .table_url = m->table_url,
        .table_id = m->table_id,
        .table_name = m->table_name,
        .image_url = m->image_url,
        .image_name = m->image_name,
    };
    m->st = otf_client_samp_notify(&s, &m->n_table, &m->n_image, &m->err);
    g_idle_add(samp_done_idle, m);
    return NULL;
}

/* A server job's catalogue goes as its URL on the service (the receivers download it); a local
 * run's as a file:// URL of the VOTable the pipeline wrote. The image goes as a file:// URL. */
static void act_samp(GSimpleAction *a, GVariant *p, gpointer data)
{
    struct otf_gui *g = data;
    struct samp_send *m;
    (void)a, (void)p;
    if (!g->cat_file && !g->path) {
        otf_gui_set_status(g, "SAMP: nothing to send: open an image or get a catalogue first");
        return;
    }
    m = g_new0(struct samp_send, 1);
    m->g = g;
    if (g->cat_file) {
        const char *src = g->cat_source ? g->cat_source : "";
        if (g_str_has_prefix(src, "job ") && g->url && g->url[0]) {
            size_t n = strlen(g->url);
            while (n > 0 && g->url[n - 1] == '/')
                n--;
            m->table_url = g_strdup_printf("%.*s/jobs/%s/results/catalog", (int)n, g->url, src + 4);
            m->table_id = g_strdup_printf("%s-catalog", src + 4);
        } else {
            m->table_url = g_filename_to_uri(g->cat_file, NULL, NULL);
            m->table_id = g_strdup("otf-gui-catalog");
        }
        m->table_name = g_strdup_printf("otf %s", src);
    }
    if (g->path) {
        m->image_url = g_filename_to_uri(g->path, NULL, NULL);
        m->image_name = g_path_get_basename(g->path);
    }
    otf_gui_set_status(g, "SAMP: sending…");
    g_thread_unref(g_thread_new("otf-gui-samp", samp_thread, m));
}

static const struct {
    const char *name;
    void (*fn)(GSimpleAction *, GVariant *, gpointer);
    const char *accels[3];
} actions[] = {
    {"open", act_open, {"<Control>o"}},
    {"submit", act_submit, {"<Control>Return", "F5"}},
    {"submit-many", act_submit_many, {"<Control><Shift>Return"}},
    {"abort", act_abort, {"<Control>period"}},
    {"save-catalog", act_save_vot, {"<Control>s"}},
    {"save-regions", act_save_reg, {"<Control><Shift>s"}},
    {"save-png", act_save_png, {"<Control>e"}},
    {"samp", act_samp, {"<Control>b"}},
    {"fit", act_fit, {"<Control>0"}},
    {"zoom-in", act_zoom_in, {"<Control>plus", "<Control>equal"}},
    {"zoom-out", act_zoom_out, {"<Control>minus"}},
    {"roi", act_roi, {"<Control>r"}},
    {"stretch", act_stretch, {"<Control>t"}},
    {"colormap", act_cmap, {"<Control>m"}},
    {"limits", act_limits, {"<Control>l"}},
    {"invert", act_invert, {"<Control>i"}},
    {"refresh", act_refresh, {"<Control><Shift>r"}},
    {"quit", act_quit, {"<Control>q"}},
};

/* ---- widgets ---- */

static void display_changed_cb(GObject *o, GParamSpec *ps, gpointer data)
{
    struct otf_gui *g = data;
    (void)o, (void)ps;
    g->stretch = (enum otf_gui_stretch)gtk_drop_down_get_selected(GTK_DROP_DOWN(g->stretch_dd));
    g->cmap = (enum otf_gui_cmap)gtk_drop_down_get_selected(GTK_DROP_DOWN(g->cmap_dd));
    if ((int)g->limits != (int)gtk_drop_down_get_selected(GTK_DROP_DOWN(g->limits_dd))) {
        g->limits = (enum otf_gui_limits)gtk_drop_down_get_selected(GTK_DROP_DOWN(g->limits_dd));
        if (g->pyr) {
            float *s = g_new(float, (size_t)1 << 18);
            size_t n = otf_gui_pyramid_sample(g->pyr, s, (size_t)1 << 18);
            if (otf_gui_limits_compute(s, n, g->limits, &g->lo, &g->hi) != 0)
                g->lo = 0, g->hi = 1;
            g_free(s);
        }
    }
    otf_gui_update_display(g);
}

static void hdu_changed_cb(GObject *o, GParamSpec *ps, gpointer data)
{
    struct otf_gui *g = data;
    guint sel = gtk_drop_down_get_selected(GTK_DROP_DOWN(g->hdu_dd));
    char spec[16];
    (void)o, (void)ps;
    if (g->syncing || !g->path || sel >= (guint)g->n_hdus || g->hdu_indices[sel] == g->hdu_index)
        return;
    snprintf(spec, sizeof spec, "%d", g->hdu_indices[sel]);
    otf_gui_open_image(g, g->path, spec);
}

static void model_changed_cb(GObject *o, GParamSpec *ps, gpointer data)
{
    struct otf_gui *g = data;
    guint sel = gtk_drop_down_get_selected(GTK_DROP_DOWN(g->model_dd));
    GtkTextBuffer *b = gtk_text_view_get_buffer(GTK_TEXT_VIEW(g->card_view));
    (void)o, (void)ps;
    if (g->model_cards && sel < g->model_cards->len) {
        /* pretty-print the JSON card when it is one */
        const char *card = g->model_cards->pdata[sel];
        GString *s = g_string_new(NULL);
        int depth = 0, in_str = 0;
        for (const char *c = card; *c; c++) {
            if (in_str) {
                g_string_append_c(s, *c);
                if (*c == '\\' && c[1])
                    g_string_append_c(s, *++c);
                else if (*c == '"')
                    in_str = 0;
            } else if (*c == '"') {
                in_str = 1;
                g_string_append_c(s, *c);
            } else if (*c == '{' || *c == '[') {
                g_string_append_c(s, *c);
                g_string_append_printf(s, "\n%*s", 2 * ++depth, "");
            } else if (*c == '}' || *c == ']') {
                g_string_append_printf(s, "\n%*s%c", 2 * (depth > 0 ? --depth : 0), "", *c);
            } else if (*c == ',') {
                g_string_append_printf(s, ",\n%*s", 2 * depth, "");
            } else if (*c == ':') {
                g_string_append(s, ": ");
            } else {
                g_string_append_c(s, *c);
            }
        }
        gtk_text_buffer_set_text(b, s->str, -1);
        g_string_free(s, TRUE);
    } else {
        gtk_text_buffer_set_text(b, "", -1);
    }
    if (!g->syncing && sel != GTK_INVALID_LIST_POSITION) {
        g_free(g->model);
        g->model = g_strdup(gtk_string_list_get_string(g->model_list, sel));
    }
}

static void connect_cb(GtkWidget *w, gpointer data)
{
    struct otf_gui *g = data;
    (void)w;
    g_free(g->url);
    g_free(g->token);
    g->url = g_strdup(gtk_editable_get_text(GTK_EDITABLE(g->url_entry)));
    g->token = g_strdup(gtk_editable_get_text(GTK_EDITABLE(g->token_entry)));
    otf_gui_save_settings(g);
    gtk_label_set_text(GTK_LABEL(g->conn_label), "connecting ...");
    otf_gui_refresh_models(g);
}

static GtkWidget *labelled(const char *text, GtkWidget *w)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
    GtkWidget *l = gtk_label_new(text);
    gtk_label_set_xalign(GTK_LABEL(l), 0);
    gtk_widget_add_css_class(l, "dim-label");
    gtk_box_append(GTK_BOX(box), l);
    gtk_box_append(GTK_BOX(box), w);
    gtk_accessible_update_relation(GTK_ACCESSIBLE(w), GTK_ACCESSIBLE_RELATION_LABELLED_BY, l, NULL,
                                   -1);
    return box;
}

static GtkWidget *names_dd(const char *(*name)(int), int n, int selected)
{
    GtkStringList *l = gtk_string_list_new(NULL);
    GtkWidget *dd;
    for (int i = 0; i < n; i++)
        gtk_string_list_append(l, name(i));
    dd = gtk_drop_down_new(G_LIST_MODEL(l), NULL);
    gtk_drop_down_set_selected(GTK_DROP_DOWN(dd), (guint)selected);
    return dd;
}

static const char *stretch_name(int i)
{
    return otf_gui_stretch_name((enum otf_gui_stretch)i);
}
static const char *limits_name(int i)
{
    return otf_gui_limits_name((enum otf_gui_limits)i);
}
static const char *cmap_name(int i)
{
    return otf_gui_cmap_name((enum otf_gui_cmap)i);
}

static GtkWidget *button(const char *label, const char *action, const char *tip)
{
    GtkWidget *b = gtk_button_new_with_mnemonic(label);
    gtk_actionable_set_action_name(GTK_ACTIONABLE(b), action);
    gtk_widget_set_tooltip_text(b, tip);
    return b;
}

static GtkWidget *side_panel(struct otf_gui *g)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 8);
    GtkWidget *conn = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
    GtkWidget *cbtn = gtk_button_new_with_label("Connect");
    GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
    GtkWidget *scroll, *jscroll, *prec;
    GtkStringList *precs =
        gtk_string_list_new((const char *const[]){"FP32", "BF16", "FP16", "TF32", "INT8", NULL});

    gtk_widget_set_margin_start(box, 8);
    gtk_widget_set_margin_end(box, 8);
    gtk_widget_set_margin_top(box, 8);
    gtk_widget_set_size_request(box, 300, -1);

    g->url_entry = gtk_entry_new();
    gtk_editable_set_text(GTK_EDITABLE(g->url_entry), g->url ? g->url : "");
    gtk_entry_set_placeholder_text(GTK_ENTRY(g->url_entry), "http://127.0.0.1:8080");
    gtk_widget_set_hexpand(g->url_entry, TRUE);
    g_signal_connect(g->url_entry, "activate", G_CALLBACK(connect_cb), g);
    g_signal_connect(cbtn, "clicked", G_CALLBACK(connect_cb), g);
    gtk_box_append(GTK_BOX(conn), g->url_entry);
    gtk_box_append(GTK_BOX(conn), cbtn);
    gtk_box_append(GTK_BOX(box), labelled("Server URL", conn));
    g->token_entry = gtk_password_entry_new();
    gtk_password_entry_set_show_peek_icon(GTK_PASSWORD_ENTRY(g->token_entry), TRUE);
    gtk_editable_set_text(GTK_EDITABLE(g->token_entry), g->token ? g->token : "");
    g_signal_connect(g->token_entry, "activate", G_CALLBACK(connect_cb), g);
    gtk_box_append(GTK_BOX(box), labelled("Token (optional)", g->token_entry));
    g->conn_label = gtk_label_new(g->url && g->url[0] ? "connecting ..." : "no server");
    gtk_label_set_xalign(GTK_LABEL(g->conn_label), 0);
    gtk_label_set_wrap(GTK_LABEL(g->conn_label), TRUE);
    gtk_box_append(GTK_BOX(box), g->conn_label);

    g->model_list = gtk_string_list_new(NULL);
    g->model_cards = g_ptr_array_new_with_free_func(g_free);
    g->model_dd = gtk_drop_down_new(G_LIST_MODEL(g->model_list), NULL);
    g_signal_connect(g->model_dd, "notify::selected", G_CALLBACK(model_changed_cb), g);
    prec = gtk_drop_down_new(G_LIST_MODEL(precs), NULL);
    g->prec_dd = prec;
    for (guint i = 0; i < 5; i++)
        if (g->precision &&
            g_ascii_strcasecmp(g->precision, gtk_string_list_get_string(precs, i)) == 0)
            gtk_drop_down_set_selected(GTK_DROP_DOWN(prec), i);
    gtk_widget_set_hexpand(g->model_dd, TRUE);
    gtk_box_append(GTK_BOX(row), labelled("Model", g->model_dd));
    gtk_box_append(GTK_BOX(row), labelled("Precision", prec));
    gtk_box_append(GTK_BOX(box), row);
    g->card_view = gtk_text_view_new();
    gtk_text_view_set_editable(GTK_TEXT_VIEW(g->card_view), FALSE);
    gtk_text_view_set_monospace(GTK_TEXT_VIEW(g->card_view), TRUE);
    gtk_text_view_set_wrap_mode(GTK_TEXT_VIEW(g->card_view), GTK_WRAP_WORD_CHAR);
    scroll = gtk_scrolled_window_new();
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroll), g->card_view);
    gtk_widget_set_size_request(scroll, -1, 140);
    gtk_box_append(GTK_BOX(box), labelled("Model card", scroll));

    g->roi_label = gtk_label_new("whole image");
    gtk_label_set_xalign(GTK_LABEL(g->roi_label), 0);
    row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
    gtk_widget_set_hexpand(g->roi_label, TRUE);
    gtk_box_append(GTK_BOX(row), g->roi_label);
    gtk_box_append(GTK_BOX(row),
                   button("_Region", "win.roi", "Draw a region of interest on the image (Ctrl+R)"));
    gtk_box_append(GTK_BOX(box), labelled("Region", row));

    row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
    g->submit_btn = button("_Submit", "win.submit", "Submit the image (Ctrl+Enter)");
    gtk_widget_add_css_class(g->submit_btn, "suggested-action");
    gtk_box_append(GTK_BOX(row), g->submit_btn);
    gtk_box_append(GTK_BOX(row), button("Submit _files…", "win.submit-many",
                                        "Submit several FITS files (Ctrl+Shift+Enter)"));
    g->abort_btn = button("_Abort", "win.abort", "Abort the running job (Ctrl+.)");
    gtk_widget_add_css_class(g->abort_btn, "destructive-action");
    gtk_box_append(GTK_BOX(row), g->abort_btn);
    gtk_box_append(GTK_BOX(box), row);
    g->progress = gtk_progress_bar_new();
    gtk_progress_bar_set_show_text(GTK_PROGRESS_BAR(g->progress), TRUE);
    gtk_progress_bar_set_text(GTK_PROGRESS_BAR(g->progress), "");
    gtk_box_append(GTK_BOX(box), g->progress);
    g->job_label = gtk_label_new("");
    gtk_label_set_xalign(GTK_LABEL(g->job_label), 0);
    gtk_label_set_selectable(GTK_LABEL(g->job_label), TRUE);
    gtk_box_append(GTK_BOX(box), g->job_label);

    g->jobs_box = gtk_list_box_new();
    gtk_accessible_update_property(GTK_ACCESSIBLE(g->jobs_box), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   "Jobs on the server", -1);
    jscroll = gtk_scrolled_window_new();
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(jscroll), g->jobs_box);
    gtk_widget_set_vexpand(jscroll, TRUE);
    gtk_box_append(
        GTK_BOX(box),
        labelled("Jobs (live; activate a COMPLETED job to load its catalogue)", jscroll));
    return box;
}

static GMenuModel *app_menu(void)
{
    GMenu *m = g_menu_new(), *file = g_menu_new(), *view = g_menu_new(), *job = g_menu_new();
    g_menu_append(file, "_Open image…", "win.open");
    g_menu_append(file, "Save _catalogue (VOTable)…", "win.save-catalog");
    g_menu_append(file, "Save _regions (DS9)…", "win.save-regions");
    g_menu_append(file, "_Export view as PNG…", "win.save-png");
    g_menu_append(file, "Send to SAMP (TOPCAT, Aladin)", "win.samp");
    g_menu_append(job, "_Submit", "win.submit");
    g_menu_append(job, "Submit _files…", "win.submit-many");
    g_menu_append(job, "_Abort", "win.abort");
    g_menu_append(job, "Draw _region", "win.roi");
    g_menu_append(job, "Refresh _models", "win.refresh");
    g_menu_append(view, "_Fit", "win.fit");
    g_menu_append(view, "Zoom _in", "win.zoom-in");
    g_menu_append(view, "Zoom _out", "win.zoom-out");
    g_menu_append(view, "Next _stretch", "win.stretch");
    g_menu_append(view, "Next _limits", "win.limits");
    g_menu_append(view, "Next _colour map", "win.colormap");
    g_menu_append(view, "_Invert colours", "win.invert");
    g_menu_append_section(m, NULL, G_MENU_MODEL(file));
    g_menu_append_section(m, NULL, G_MENU_MODEL(job));
    g_menu_append_section(m, NULL, G_MENU_MODEL(view));
    g_menu_append(m, "_Quit", "win.quit");
    g_object_unref(file);
    g_object_unref(job);
    g_object_unref(view);
    return G_MENU_MODEL(m);
}

static gboolean close_cb(GtkWindow *w, gpointer data)
{
    (void)w;
    otf_gui_save_settings(data);
    return FALSE;
}

static char **open_paths;
static char *open_hdu;

static void activate_cb(GtkApplication *app, gpointer data)
{
    struct otf_gui *g = data;
    GtkWidget *win = gtk_application_window_new(app);
    GtkWidget *header = gtk_header_bar_new(), *menu = gtk_menu_button_new();
    GtkWidget *outer = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    GtkWidget *hpaned = gtk_paned_new(GTK_ORIENTATION_HORIZONTAL);
    GtkWidget *vpaned = gtk_paned_new(GTK_ORIENTATION_VERTICAL);
    GtkWidget *statusbar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
    GtkWidget *openb = gtk_button_new_from_icon_name("document-open-symbolic");
    GMenuModel *mm = app_menu();

    g->app = app;
    g->win = GTK_WINDOW(win);
    gtk_window_set_title(g->win, "otf-gui");
    gtk_window_set_default_size(g->win, 1280, 800);
    for (size_t i = 0; i < G_N_ELEMENTS(actions); i++) {
        GSimpleAction *a = g_simple_action_new(actions[i].name, NULL);
        char *full = g_strconcat("win.", actions[i].name, NULL);
        g_signal_connect(a, "activate", G_CALLBACK(actions[i].fn), g);
        g_action_map_add_action(G_ACTION_MAP(win), G_ACTION(a));
        gtk_application_set_accels_for_action(app, full, actions[i].accels);
        g_object_unref(a);
        g_free(full);
    }

    gtk_actionable_set_action_name(GTK_ACTIONABLE(openb), "win.open");
    gtk_widget_set_tooltip_text(openb, "Open a FITS image (Ctrl+O)");
    gtk_header_bar_pack_start(GTK_HEADER_BAR(header), openb);
    gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(menu), "open-menu-symbolic");
    gtk_menu_button_set_menu_model(GTK_MENU_BUTTON(menu), mm);
    gtk_header_bar_pack_end(GTK_HEADER_BAR(header), menu);
    g->stretch_dd = names_dd(stretch_name, OTF_GUI_STRETCH__COUNT, g->stretch);
    g->limits_dd = names_dd(limits_name, OTF_GUI_LIMITS__COUNT, g->limits);
    g->cmap_dd = names_dd(cmap_name, OTF_GUI_CMAP__COUNT, g->cmap);
    gtk_widget_set_tooltip_text(g->stretch_dd, "Stretch (Ctrl+T)");
    gtk_widget_set_tooltip_text(g->limits_dd, "Display limits (Ctrl+L)");
    gtk_widget_set_tooltip_text(g->cmap_dd, "Colour map (Ctrl+M)");
    g_signal_connect(g->stretch_dd, "notify::selected", G_CALLBACK(display_changed_cb), g);
    g_signal_connect(g->limits_dd, "notify::selected", G_CALLBACK(display_changed_cb), g);
    g_signal_connect(g->cmap_dd, "notify::selected", G_CALLBACK(display_changed_cb), g);
    g->hdu_list = gtk_string_list_new(NULL);
    g->hdu_dd = gtk_drop_down_new(G_LIST_MODEL(g->hdu_list), NULL);
    gtk_widget_set_tooltip_text(g->hdu_dd, "Image HDU");
    g_signal_connect(g->hdu_dd, "notify::selected", G_CALLBACK(hdu_changed_cb), g);
    gtk_header_bar_pack_start(GTK_HEADER_BAR(header), g->hdu_dd);
    gtk_header_bar_pack_start(GTK_HEADER_BAR(header), g->limits_dd);
    gtk_header_bar_pack_start(GTK_HEADER_BAR(header), g->stretch_dd);
    gtk_header_bar_pack_start(GTK_HEADER_BAR(header), g->cmap_dd);
    gtk_window_set_titlebar(g->win, header);

    gtk_paned_set_start_child(GTK_PANED(vpaned), otf_gui_canvas_new(g));
    gtk_paned_set_end_child(GTK_PANED(vpaned), otf_gui_table_new(g));
    gtk_paned_set_position(GTK_PANED(vpaned), 520);
    gtk_paned_set_resize_end_child(GTK_PANED(vpaned), FALSE);
    gtk_paned_set_start_child(GTK_PANED(hpaned), vpaned);
    {
        /* scrolls on a short laptop screen instead of forcing the window taller */
        GtkWidget *side = gtk_scrolled_window_new();
        gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(side), GTK_POLICY_NEVER,
                                       GTK_POLICY_AUTOMATIC);
        gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(side), side_panel(g));
        gtk_scrolled_window_set_propagate_natural_width(GTK_SCROLLED_WINDOW(side), TRUE);
        gtk_paned_set_end_child(GTK_PANED(hpaned), side);
    }
    gtk_paned_set_resize_end_child(GTK_PANED(hpaned), FALSE);
    gtk_paned_set_shrink_end_child(GTK_PANED(hpaned), FALSE);
    gtk_widget_set_vexpand(hpaned, TRUE);

    g->status = gtk_label_new("Open a FITS image (Ctrl+O, drag and drop, or the command line)");
    g->coords = gtk_label_new("");
    gtk_label_set_xalign(GTK_LABEL(g->status), 0);
    gtk_label_set_ellipsize(GTK_LABEL(g->status), PANGO_ELLIPSIZE_END);
    gtk_widget_set_hexpand(g->status, TRUE);
    gtk_label_set_selectable(GTK_LABEL(g->coords), TRUE);
    gtk_widget_add_css_class(g->coords, "monospace");
    gtk_accessible_update_property(GTK_ACCESSIBLE(g->status), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   "Status", -1);
    gtk_widget_set_margin_start(statusbar, 6);
    gtk_widget_set_margin_end(statusbar, 6);
    gtk_box_append(GTK_BOX(statusbar), g->status);
    gtk_box_append(GTK_BOX(statusbar), g->coords);
    gtk_box_append(GTK_BOX(outer), hpaned);
    gtk_box_append(GTK_BOX(outer), statusbar);
    gtk_window_set_child(g->win, outer);
    g_signal_connect(win, "close-request", G_CALLBACK(close_cb), g);
    g_object_unref(mm);

    otf_gui_update_display(g);
    otf_gui_jobs_start(g);
    gtk_window_present(g->win);
    gtk_widget_grab_focus(g->canvas);
    if (open_paths && open_paths[0])
        otf_gui_open_image(g, open_paths[0], open_hdu);
    otf_gui_write_state(g);
}

char *otf_gui_cache_path(const char *name)
{
    return g_build_filename(g_get_user_cache_dir(), "otf-gui", name, NULL);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: otf-gui [options] [FILE.fits]\n"
               "The CIANNA On-The-Fly desktop client: view a FITS image, submit it to a server or\n"
               "to a local model, and see the detected sources over the image and as a table.\n\n"
               "  --url URL           server (default: the saved one, else $OTF_URL)\n"
               "  --token TOKEN       bearer token (default: the saved one, else $OTF_TOKEN)\n"
               "  --models DIR        folder of local models for the offline pipeline\n"
               "                      (default: the saved one, else $OTF_MODELS)\n"
               "  --hdu N|EXTNAME     HDU of FILE to show\n"
               "  --status-file FILE  keep the window's state in FILE (key=value lines)\n"
               "  --version           print the version\n"
               "  -h, --help          this help\n\n"
               "Settings are kept in ~/.config/otf/gui.ini. Shortcuts: see docs/gui.md.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"models", required_argument, NULL, 'm'},
        {"hdu", required_argument, NULL, 'H'},
        {"status-file", required_argument, NULL, 's'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *token = NULL, *models = NULL;
    GtkApplication *app;
    int c, rc;
    char *argv0[2] = {argv[0], NULL};

    memset(&gui, 0, sizeof gui);
    gui.selected = -1;
    gui.stretch = OTF_GUI_STRETCH_ASINH;
    gui.limits = OTF_GUI_LIMITS_ZSCALE;
    gui.cmap = OTF_GUI_CMAP_GREY;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'm':
            models = optarg;
            break;
        case 'H':
            open_hdu = optarg;
            break;
        case 's':
            gui.status_file = g_strdup(optarg);
            break;
        case 'V':
            printf("otf-gui %s\n", OTF_VERSION_STRING);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    open_paths = argv + optind;
    load_settings(&gui);
    if (url || (!gui.url && getenv("OTF_URL"))) {
        g_free(gui.url);
        gui.url = g_strdup(url ? url : getenv("OTF_URL"));
    }
    if (token || (!gui.token && getenv("OTF_TOKEN"))) {
        g_free(gui.token);
        gui.token = g_strdup(token ? token : getenv("OTF_TOKEN"));
    }
    if (models || !gui.models_dir || !gui.models_dir[0]) {
        const char *m = models ? models : getenv("OTF_MODELS");
        g_free(gui.models_dir);
        gui.models_dir = g_strdup(m ? m : "");
    }
    if (otf_client_global_init() != OTF_OK) {
        fprintf(stderr, "otf-gui: cannot initialise libcurl\n");
        return 1;
    }
    /* NON_UNIQUE: no D-Bus name needed (a plain X session or Xvfb works) */
    app = gtk_application_new("org.cianna.otf.gui", G_APPLICATION_NON_UNIQUE);
    g_signal_connect(app, "activate", G_CALLBACK(activate_cb), &gui);
    rc = g_application_run(G_APPLICATION(app), 1, argv0);
    g_object_unref(app);
    return rc;
}
