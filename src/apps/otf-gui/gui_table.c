/* otf-gui: the catalogue as a sortable table linked to the image both ways (a row selected
 * centres the image on it; a source clicked selects its row), the objectness filter shared by
 * the table and the overlay, and saving the catalogue, the regions and a PNG of the view. */
#include <math.h>
#include <string.h>

#include "apps/otf-gui/gui.h"

/* A table row: the catalogue row index. */
#define OTF_GUI_TYPE_ROW (otf_gui_row_get_type())
G_DECLARE_FINAL_TYPE(OtfGuiRow, otf_gui_row, OTF_GUI, ROW, GObject)
struct _OtfGuiRow {
    GObject parent;
    guint index;
};
G_DEFINE_TYPE(OtfGuiRow, otf_gui_row, G_TYPE_OBJECT)
static void otf_gui_row_class_init(OtfGuiRowClass *k)
{
    (void)k;
}
static void otf_gui_row_init(OtfGuiRow *r)
{
    (void)r;
}

static guint row_index(gpointer item)
{
    return OTF_GUI_ROW(item)->index;
}

struct col_ctx {
    struct otf_gui *g;
    size_t col;
};

static void format_cell(const struct otf_gui_catalog *cat, size_t row, size_t col, char *buf,
                        size_t n)
{
    double v = cat->v[row * cat->n_cols + col];
    const char *dt = cat->cols[col].datatype, *name = cat->cols[col].name;
    if (isnan(v))
        snprintf(buf, n, "%s", "");
    else if (strcmp(dt, "long") == 0 || strcmp(dt, "int") == 0 || strcmp(dt, "short") == 0 ||
             strcmp(dt, "unsignedByte") == 0 || strcmp(dt, "boolean") == 0)
        snprintf(buf, n, "%.0f", v);
    else if ((int)col == cat->role[OTF_GUI_ROLE_RA] || (int)col == cat->role[OTF_GUI_ROLE_DEC])
        snprintf(buf, n, "%.6f", v);
    else if (strcmp(name, "x") == 0 || strcmp(name, "y") == 0)
        snprintf(buf, n, "%.2f", v);
    else
        snprintf(buf, n, "%.4g", v);
}

static void cell_setup(GtkSignalListItemFactory *f, GtkListItem *item, gpointer data)
{
    GtkWidget *l = gtk_label_new(NULL);
    (void)f, (void)data;
    gtk_label_set_xalign(GTK_LABEL(l), 1);
    gtk_widget_add_css_class(l, "numeric");
    gtk_list_item_set_child(item, l);
}

static void cell_bind(GtkSignalListItemFactory *f, GtkListItem *item, gpointer data)
{
    struct col_ctx *c = data;
    char buf[64] = "";
    (void)f;
    if (c->g->cat && row_index(gtk_list_item_get_item(item)) < c->g->cat->n_rows)
        format_cell(c->g->cat, row_index(gtk_list_item_get_item(item)), c->col, buf, sizeof buf);
    gtk_label_set_text(GTK_LABEL(gtk_list_item_get_child(item)), buf);
}

static int sort_cb(gconstpointer a, gconstpointer b, gpointer data)
{
    struct col_ctx *c = data;
    int r;
    if (!c->g->cat)
        return 0;
    r = otf_gui_catalog_compare(c->g->cat, c->col, row_index((gpointer)a), row_index((gpointer)b));
    return r < 0 ? GTK_ORDERING_SMALLER : (r > 0 ? GTK_ORDERING_LARGER : GTK_ORDERING_EQUAL);
}

static gboolean filter_cb(gpointer item, gpointer data)
{
    struct otf_gui *g = data;
    return g->cat && otf_gui_catalog_visible(g->cat, row_index(item), g->min_obj);
}

guint otf_gui_table_rows(struct otf_gui *g)
{
    return g_list_model_get_n_items(G_LIST_MODEL(g->selection));
}

static void update_counts(struct otf_gui *g)
{
    char txt[160];
    guint n = otf_gui_table_rows(g);
    if (!g->cat)
        snprintf(txt, sizeof txt, "no catalogue");
    else if (g->cat->role[OTF_GUI_ROLE_OBJECTNESS] >= 0 && g->min_obj > 0)
        snprintf(txt, sizeof txt, "%u of %zu sources (objectness ≥ %.2f) — %s", n, g->cat->n_rows,
                 g->min_obj, g->cat_source ? g->cat_source : "");
    else
        snprintf(txt, sizeof txt, "%u sources — %s", n, g->cat_source ? g->cat_source : "");
    gtk_label_set_text(GTK_LABEL(g->rows_label), txt);
    snprintf(txt, sizeof txt, "Catalogue: %u rows", n);
    gtk_accessible_update_property(GTK_ACCESSIBLE(g->table), GTK_ACCESSIBLE_PROPERTY_LABEL, txt,
                                   -1);
    otf_gui_write_state(g);
}

void otf_gui_filter_changed(struct otf_gui *g)
{
    gtk_filter_changed(GTK_FILTER(g->filter), GTK_FILTER_CHANGE_DIFFERENT);
    update_counts(g);
    otf_gui_redraw(g, 0);
}

static void obj_changed_cb(GtkRange *r, gpointer data)
{
    struct otf_gui *g = data;
    g->min_obj = gtk_range_get_value(r);
    otf_gui_filter_changed(g);
}

static void selected_cb(GObject *o, GParamSpec *ps, gpointer data)
{
    struct otf_gui *g = data;
    gpointer item;
    (void)o, (void)ps;
    if (g->syncing)
        return;
    item = gtk_single_selection_get_selected_item(g->selection);
    g->selected = item ? (long)row_index(item) : -1;
    if (g->selected >= 0)
        otf_gui_center_on_row(g, g->selected);
    otf_gui_redraw(g, 0);
    otf_gui_write_state(g);
}

/* GTK 4.8 has no public scroll-to on GtkColumnView: its list view child has the action. */
static void scroll_to(struct otf_gui *g, guint pos)
{
    for (GtkWidget *c = gtk_widget_get_first_child(g->table); c; c = gtk_widget_get_next_sibling(c))
        if (GTK_IS_LIST_VIEW(c)) {
            gtk_widget_activate_action(c, "list.scroll-to-item", "u", pos);
            return;
        }
}

void otf_gui_select_row(struct otf_gui *g, long row, int from_image)
{
    guint n = otf_gui_table_rows(g), pos = GTK_INVALID_LIST_POSITION;
    if (row >= 0)
        for (guint i = 0; i < n; i++) {
            gpointer item = g_list_model_get_item(G_LIST_MODEL(g->selection), i);
            guint idx = row_index(item);
            g_object_unref(item);
            if ((long)idx == row) {
                pos = i;
                break;
            }
        }
    g->selected = pos == GTK_INVALID_LIST_POSITION ? -1 : row;
    g->syncing = 1;
    gtk_single_selection_set_selected(g->selection, pos);
    g->syncing = 0;
    if (pos != GTK_INVALID_LIST_POSITION && from_image)
        scroll_to(g, pos);
    if (g->selected >= 0 && g->cat) {
        char ra[24], dec[24];
        otf_gui_format_ra(otf_gui_catalog_get(g->cat, (size_t)row, OTF_GUI_ROLE_RA), ra, sizeof ra);
        otf_gui_format_dec(otf_gui_catalog_get(g->cat, (size_t)row, OTF_GUI_ROLE_DEC), dec,
                           sizeof dec);
        otf_gui_set_status(g, "source %.0f: x %.2f y %.2f %s %s objectness %.3f",
                           otf_gui_catalog_get(g->cat, (size_t)row, OTF_GUI_ROLE_ID),
                           otf_gui_catalog_get(g->cat, (size_t)row, OTF_GUI_ROLE_X),
                           otf_gui_catalog_get(g->cat, (size_t)row, OTF_GUI_ROLE_Y), ra, dec,
                           otf_gui_catalog_get(g->cat, (size_t)row, OTF_GUI_ROLE_OBJECTNESS));
    }
    otf_gui_redraw(g, 0);
    otf_gui_write_state(g);
}

/* Directions of north and east in the image at each source, from the WCS, for ellipses. */
static void sky_geometry(struct otf_gui *g, struct otf_gui_catalog *cat)
{
    double *north, *east;
    if (!g->wcs || cat->role[OTF_GUI_ROLE_X] < 0)
        return;
    north = g_new(double, cat->n_rows ? cat->n_rows : 1);
    east = g_new(double, cat->n_rows ? cat->n_rows : 1);
    for (size_t i = 0; i < cat->n_rows; i++) {
        double xy[2] = {otf_gui_catalog_get(cat, i, OTF_GUI_ROLE_X),
                        otf_gui_catalog_get(cat, i, OTF_GUI_ROLE_Y)},
               sky[2], pts[4], pix[4];
        north[i] = M_PI / 2;
        east[i] = M_PI;
        if (otf_fits_pix_to_sky(g->wcs, 1, xy, sky, NULL) != OTF_OK || !isfinite(sky[0]))
            continue;
        /* one arcsecond towards north, and towards east */
        pts[0] = sky[0], pts[1] = sky[1] + 1.0 / 3600;
        pts[2] = sky[0] + 1.0 / 3600 / fmax(cos(sky[1] * M_PI / 180), 1e-6), pts[3] = sky[1];
        if (otf_fits_sky_to_pix(g->wcs, 2, pts, pix, NULL) != OTF_OK || !isfinite(pix[0]) ||
            !isfinite(pix[2]))
            continue;
        north[i] = atan2(pix[1] - xy[1], pix[0] - xy[0]);
        east[i] = atan2(pix[3] - xy[1], pix[2] - xy[0]);
    }
    otf_gui_catalog_set_sky(cat, otf_fits_wcs_pixel_scale(g->wcs) * 3600, north, east);
    g_free(north);
    g_free(east);
}

void otf_gui_set_catalog(struct otf_gui *g, struct otf_gui_catalog *cat, const char *cat_file,
                         const char *reg_file, const char *source)
{
    GtkColumnView *cv = GTK_COLUMN_VIEW(g->table);
    GListModel *cols = gtk_column_view_get_columns(cv);
    guint n_old = g_list_model_get_n_items(G_LIST_MODEL(g->rows));

    while (g_list_model_get_n_items(cols) > 0) {
        GtkColumnViewColumn *c = g_list_model_get_item(cols, 0);
        gtk_column_view_remove_column(cv, c);
        g_object_unref(c);
    }
    g_list_store_remove_all(g->rows);
    (void)n_old;
    otf_gui_catalog_free(g->cat);
    g->cat = cat;
    g->selected = -1;
    g_free(g->cat_file);
    g_free(g->reg_file);
    g_free(g->cat_source);
    g->cat_file = g_strdup(cat_file);
    g->reg_file = g_strdup(reg_file);
    g->cat_source = g_strdup(source);
    if (cat) {
        GPtrArray *items = g_ptr_array_new_with_free_func(g_object_unref);
        sky_geometry(g, cat);
        for (size_t c = 0; c < cat->n_cols; c++) {
            struct col_ctx *ctx = g_new(struct col_ctx, 1);
            GtkListItemFactory *f = gtk_signal_list_item_factory_new();
            GtkColumnViewColumn *col;
            GtkSorter *sorter;
            char *title = cat->cols[c].unit[0]
                              ? g_strdup_printf("%s [%s]", cat->cols[c].name, cat->cols[c].unit)
                              : g_strdup(cat->cols[c].name);
            ctx->g = g;
            ctx->col = c;
            g_signal_connect(f, "setup", G_CALLBACK(cell_setup), ctx);
            g_signal_connect(f, "bind", G_CALLBACK(cell_bind), ctx);
            col = gtk_column_view_column_new(title, f);
            sorter = GTK_SORTER(gtk_custom_sorter_new(sort_cb, ctx, NULL));
            gtk_column_view_column_set_sorter(col, sorter);
            gtk_column_view_column_set_resizable(col, TRUE);
            g_object_set_data_full(G_OBJECT(col), "otf-ctx", ctx, g_free);
            gtk_column_view_append_column(cv, col);
            g_object_unref(sorter);
            g_object_unref(col);
            g_free(title);
        }
        for (size_t i = 0; i < cat->n_rows; i++) {
            OtfGuiRow *r = g_object_new(OTF_GUI_TYPE_ROW, NULL);
            r->index = (guint)i;
            g_ptr_array_add(items, r);
        }
        g_list_store_splice(g->rows, 0, 0, items->pdata, items->len);
        g_ptr_array_unref(items);
    }
    gtk_single_selection_set_selected(g->selection, GTK_INVALID_LIST_POSITION);
    otf_gui_filter_changed(g);
}

GtkWidget *otf_gui_table_new(struct otf_gui *g)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
    GtkWidget *bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget *scroll = gtk_scrolled_window_new();
    GtkFilterListModel *filtered;
    GtkWidget *lbl;

    g->rows = g_list_store_new(OTF_GUI_TYPE_ROW);
    g->filter = gtk_custom_filter_new(filter_cb, g, NULL);
    filtered = gtk_filter_list_model_new(G_LIST_MODEL(g_object_ref(g->rows)),
                                         GTK_FILTER(g_object_ref(g->filter)));
    g->table = gtk_column_view_new(NULL);
    g->sorted = gtk_sort_list_model_new(
        G_LIST_MODEL(filtered),
        g_object_ref(gtk_column_view_get_sorter(GTK_COLUMN_VIEW(g->table))));
    g->selection = gtk_single_selection_new(G_LIST_MODEL(g_object_ref(g->sorted)));
    gtk_single_selection_set_autoselect(g->selection, FALSE);
    gtk_single_selection_set_can_unselect(g->selection, TRUE);
    gtk_column_view_set_model(GTK_COLUMN_VIEW(g->table), GTK_SELECTION_MODEL(g->selection));
    gtk_column_view_set_show_column_separators(GTK_COLUMN_VIEW(g->table), TRUE);
    g_signal_connect(g->selection, "notify::selected", G_CALLBACK(selected_cb), g);

    lbl = gtk_label_new("Objectness ≥");
    g->obj_scale = gtk_scale_new_with_range(GTK_ORIENTATION_HORIZONTAL, 0, 1, 0.01);
    gtk_scale_set_digits(GTK_SCALE(g->obj_scale), 2);
    gtk_scale_set_draw_value(GTK_SCALE(g->obj_scale), TRUE);
    gtk_widget_set_size_request(g->obj_scale, 180, -1);
    gtk_accessible_update_property(GTK_ACCESSIBLE(g->obj_scale), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   "Minimum objectness", -1);
    g_signal_connect(g->obj_scale, "value-changed", G_CALLBACK(obj_changed_cb), g);
    g->rows_label = gtk_label_new("no catalogue");
    gtk_label_set_xalign(GTK_LABEL(g->rows_label), 0);
    gtk_widget_set_hexpand(g->rows_label, TRUE);
    gtk_box_append(GTK_BOX(bar), g->rows_label);
    gtk_box_append(GTK_BOX(bar), lbl);
    gtk_box_append(GTK_BOX(bar), g->obj_scale);

    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroll), g->table);
    gtk_widget_set_vexpand(scroll, TRUE);
    gtk_box_append(GTK_BOX(box), bar);
    gtk_box_append(GTK_BOX(box), scroll);
    return box;
}

/* ---- saving ---- */

enum save_kind { SAVE_VOTABLE, SAVE_REGIONS, SAVE_PNG };

struct save_req {
    struct otf_gui *g;
    enum save_kind kind;
};

static void save_response_cb(GtkNativeDialog *d, int response, gpointer data)
{
    struct save_req *r = data;
    struct otf_gui *g = r->g;
    if (response == GTK_RESPONSE_ACCEPT) {
        GFile *dst = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(d));
        char *path = g_file_get_path(dst);
        GError *err = NULL;
        if (r->kind == SAVE_PNG) {
            otf_gui_save_png(g, path, &err);
        } else {
            GFile *src = g_file_new_for_path(r->kind == SAVE_VOTABLE ? g->cat_file : g->reg_file);
            g_file_copy(src, dst, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &err);
            g_object_unref(src);
        }
        if (err)
            otf_gui_set_status(g, "cannot save %s: %s", path, err->message);
        else
            otf_gui_set_status(g, "saved %s", path);
        g_clear_error(&err);
        g_free(path);
        g_object_unref(dst);
    }
    g_object_unref(d);
    g_free(r);
}

static void save_dialog(struct otf_gui *g, enum save_kind kind, const char *title, const char *name)
{
    GtkFileChooserNative *d = gtk_file_chooser_native_new(
        title, g->win, GTK_FILE_CHOOSER_ACTION_SAVE, "_Save", "_Cancel");
    struct save_req *r = g_new0(struct save_req, 1);
    r->g = g;
    r->kind = kind;
    gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(d), name);
    g_signal_connect(d, "response", G_CALLBACK(save_response_cb), r);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(d));
}

static char *default_name(struct otf_gui *g, const char *ext)
{
    char *base = g->path ? g_path_get_basename(g->path) : g_strdup("image");
    char *dot = strrchr(base, '.');
    char *name;
    if (dot && dot != base)
        *dot = '\0';
    name = g_strconcat(base, ext, NULL);
    g_free(base);
    return name;
}

void otf_gui_save_catalog(struct otf_gui *g, int what)
{
    char *name;
    if (what == SAVE_PNG) {
        if (!g->pyr) {
            otf_gui_set_status(g, "no image to save");
            return;
        }
        name = default_name(g, ".png");
        save_dialog(g, SAVE_PNG, "Save the view as PNG", name);
    } else if (!g->cat_file || (what == SAVE_REGIONS && !g->reg_file)) {
        otf_gui_set_status(g, "no catalogue to save yet");
        return;
    } else {
        name = default_name(g, what == SAVE_VOTABLE ? ".vot" : ".reg");
        save_dialog(
            g, (enum save_kind)what,
            what == SAVE_VOTABLE ? "Save the catalogue (VOTable)" : "Save the regions (DS9)", name);
    }
    g_free(name);
}
