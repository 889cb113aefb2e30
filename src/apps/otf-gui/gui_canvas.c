/* otf-gui: the image view. A FITS HDU is read once, on a worker thread, into a pyramid of block
 * means; each frame then samples only the widget's device pixels from the level matching the
 * zoom (gui_logic.h), so pan and zoom stay smooth on 8192^2 images. Detections are drawn over it
 * with cairo; the pointer position gives the pixel value and RA/Dec in the status line. */
#include <math.h>
#include <string.h>

#include "apps/otf-gui/gui.h"

#define BACKGROUND   0xff303030u
#define IMAGE_BUDGET ((size_t)1 << 30) /* bytes of pyramid held in memory */
#define SAMPLE_N     ((size_t)1 << 18) /* pixels looked at for the display limits */

/* ---- loading ---- */

struct load {
    struct otf_gui *g;
    unsigned gen;
    char *path, *hdu;
    /* results */
    enum otf_status rc;
    struct otf_errbuf eb;
    struct otf_gui_pyramid *pyr;
    struct otf_fits_wcs *wcs;
    struct otf_fits_info info;
    struct otf_fits_meta meta;
    int n_hdus;
    int hdu_indices[64];
    struct otf_fits_image *img;
};

struct load_progress {
    struct otf_gui *g;
    unsigned gen;
    double frac;
};

static gboolean load_progress_idle(gpointer data)
{
    struct load_progress *p = data;
    if (p->gen == p->g->load_gen) {
        gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(p->g->progress), p->frac);
        gtk_progress_bar_set_text(GTK_PROGRESS_BAR(p->g->progress), "reading image");
    }
    g_free(p);
    return G_SOURCE_REMOVE;
}

static int read_rows(void *user, int64_t y0, int64_t n, float *out)
{
    struct load *l = user;
    int64_t w, h;
    otf_fits_image_size(l->img, &w, &h);
    return otf_fits_read_tile(l->img, 0, y0, w, n, out, NULL) == OTF_OK ? 0 : -1;
}

static int on_load_progress(void *user, int64_t done, int64_t total)
{
    struct load *l = user;
    struct load_progress *p;
    /* a newer load supersedes this one: stop reading */
    if (__atomic_load_n(&l->g->load_gen, __ATOMIC_RELAXED) != l->gen)
        return 1;
    p = g_new0(struct load_progress, 1);
    p->g = l->g;
    p->gen = l->gen;
    p->frac = total > 0 ? (double)done / (double)total : 0;
    g_idle_add(load_progress_idle, p);
    return 0;
}

static gboolean load_done_idle(gpointer data);

static gpointer load_thread(gpointer data)
{
    struct load *l = data;
    int64_t w, h;

    /* the image HDUs of the file, for the HDU choice */
    for (int i = 0; i < 64 && l->n_hdus < 64; i++) {
        char spec[16];
        struct otf_fits_info info;
        snprintf(spec, sizeof spec, "%d", i);
        if (otf_fits_probe(l->path, spec, &info, NULL) == OTF_OK)
            l->hdu_indices[l->n_hdus++] = i;
        else if (i >= 16 && l->n_hdus == 0)
            break;
    }
    l->rc = otf_fits_open_image(l->path, l->hdu[0] ? l->hdu : NULL, &l->img, &l->eb);
    if (l->rc != OTF_OK)
        goto out;
    l->info = *otf_fits_image_info(l->img);
    otf_fits_image_size(l->img, &w, &h);
    l->rc = otf_gui_pyramid_build(w, h, read_rows, l, IMAGE_BUDGET, on_load_progress, l, &l->pyr,
                                  &l->eb);
    if (l->rc != OTF_OK)
        goto out;
    if (otf_fits_read_wcs(l->img, &l->wcs, NULL) != OTF_OK)
        l->wcs = NULL;
    l->info = *otf_fits_image_info(l->img);
    if (otf_fits_read_meta(l->img, &l->meta, NULL) != OTF_OK)
        memset(&l->meta, 0, sizeof l->meta);
out:
    otf_fits_close_image(l->img);
    l->img = NULL;
    g_idle_add(load_done_idle, l);
    return NULL;
}

static void compute_limits(struct otf_gui *g)
{
    float *s = g_new(float, SAMPLE_N);
    size_t n = otf_gui_pyramid_sample(g->pyr, s, SAMPLE_N);
    if (otf_gui_limits_compute(s, n, g->limits, &g->lo, &g->hi) != 0)
        g->lo = 0, g->hi = 1;
    g_free(s);
}

static gboolean load_done_idle(gpointer data)
{
    struct load *l = data;
    struct otf_gui *g = l->g;

    if (l->gen != g->load_gen) { /* superseded */
        otf_gui_pyramid_free(l->pyr);
        otf_fits_free_wcs(l->wcs);
        goto out;
    }
    g->loading = 0;
    gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(g->progress), 0);
    gtk_progress_bar_set_text(GTK_PROGRESS_BAR(g->progress), "");
    if (l->rc != OTF_OK) {
        otf_gui_set_status(g, "%s: %s", l->path, l->eb.msg);
        goto out;
    }
    otf_gui_pyramid_free(g->pyr);
    otf_fits_free_wcs(g->wcs);
    g->pyr = l->pyr;
    g->wcs = l->wcs;
    g_free(g->path);
    g->path = g_strdup(l->path);
    g_free(g->hdu);
    g->hdu = g_strdup(l->hdu);
    g->hdu_index = l->info.hdu_index;
    snprintf(g->frame, sizeof g->frame, "%s", g->wcs ? otf_fits_wcs_frame(g->wcs) : "");
    snprintf(g->bunit, sizeof g->bunit, "%s", l->meta.bunit);
    g->has_roi = 0;
    gtk_label_set_text(GTK_LABEL(g->roi_label), "whole image");
    /* HDU choice */
    g->n_hdus = l->n_hdus;
    memcpy(g->hdu_indices, l->hdu_indices, sizeof g->hdu_indices);
    {
        guint old = g_list_model_get_n_items(G_LIST_MODEL(g->hdu_list)), sel = 0;
        const char **items = g_new0(const char *, (size_t)g->n_hdus + 1);
        char **owned = g_new0(char *, (size_t)g->n_hdus + 1);
        for (int i = 0; i < g->n_hdus; i++) {
            owned[i] = g_strdup_printf("HDU %d", g->hdu_indices[i]);
            items[i] = owned[i];
            if (g->hdu_indices[i] == g->hdu_index)
                sel = (guint)i;
        }
        g->syncing = 1;
        gtk_string_list_splice(g->hdu_list, 0, old, items);
        gtk_drop_down_set_selected(GTK_DROP_DOWN(g->hdu_dd), sel);
        g->syncing = 0;
        g_strfreev(owned);
        g_free(items);
    }
    compute_limits(g);
    otf_gui_update_display(g);
    otf_gui_set_catalog(g, NULL, NULL, NULL, NULL);
    {
        char *base = g_path_get_basename(g->path);
        char *title = g_strdup_printf("%s — otf-gui", base);
        gtk_window_set_title(g->win, title);
        otf_gui_set_status(g, "%s: %lldx%lld, HDU %d%s%s%s", base, (long long)g->pyr->w,
                           (long long)g->pyr->h, g->hdu_index, g->wcs ? ", WCS " : ", no WCS",
                           g->frame, g->pyr->base ? " (shown at reduced resolution)" : "");
        g_free(title);
        g_free(base);
    }
    g->view.w = 0; /* fitted at the next draw, when the widget size is known */
    otf_gui_redraw(g, 1);
out:
    g_free(l->path);
    g_free(l->hdu);
    g_free(l);
    return G_SOURCE_REMOVE;
}

void otf_gui_open_image(struct otf_gui *g, const char *path, const char *hdu)
{
    struct load *l = g_new0(struct load, 1);
    GThread *t;
    l->g = g;
    l->gen = __atomic_add_fetch(&g->load_gen, 1, __ATOMIC_RELAXED);
    l->path = g_strdup(path);
    l->hdu = g_strdup(hdu ? hdu : "");
    g->loading = 1;
    otf_gui_set_status(g, "reading %s ...", path);
    t = g_thread_new("otf-gui-load", load_thread, l);
    g_thread_unref(t);
}

/* ---- display ---- */

void otf_gui_update_display(struct otf_gui *g)
{
    if (!g->lut)
        g->lut = g_new0(struct otf_gui_lut, 1);
    otf_gui_lut_build(g->lut, g->lo, g->hi, g->stretch, g->cmap, g->invert);
    otf_gui_redraw(g, 1);
    otf_gui_write_state(g);
}

void otf_gui_redraw(struct otf_gui *g, int image_changed)
{
    if (image_changed)
        g->frame_dirty = 1;
    gtk_widget_queue_draw(g->canvas);
}

static int scale_of(struct otf_gui *g)
{
    int s = gtk_widget_get_scale_factor(g->canvas);
    return s > 0 ? s : 1;
}

void otf_gui_fit(struct otf_gui *g)
{
    int s = scale_of(g);
    if (!g->pyr)
        return;
    otf_gui_view_fit(&g->view, g->pyr->w, g->pyr->h, gtk_widget_get_width(g->canvas) * s,
                     gtk_widget_get_height(g->canvas) * s);
    otf_gui_redraw(g, 1);
}

void otf_gui_zoom(struct otf_gui *g, double factor)
{
    if (!g->pyr)
        return;
    otf_gui_view_zoom_at(&g->view, factor, g->view.w / 2.0, g->view.h / 2.0);
    otf_gui_redraw(g, 1);
}

void otf_gui_center_on_row(struct otf_gui *g, long row)
{
    if (!g->cat || row < 0 || !g->pyr)
        return;
    if (otf_gui_view_center_on(&g->view, g->cat, (size_t)row, 2.0 * scale_of(g)) == 0)
        otf_gui_redraw(g, 1);
}

static void render_frame(struct otf_gui *g, int w, int h)
{
    uint32_t *px;
    int stride;
    if (g->frame_surf && (cairo_image_surface_get_width(g->frame_surf) != w ||
                          cairo_image_surface_get_height(g->frame_surf) != h)) {
        cairo_surface_destroy(g->frame_surf);
        g->frame_surf = NULL;
    }
    if (!g->frame_surf) {
        g->frame_surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
        g->frame_dirty = 1;
    }
    if (!g->frame_dirty)
        return;
    cairo_surface_flush(g->frame_surf);
    px = (uint32_t *)cairo_image_surface_get_data(g->frame_surf);
    stride = cairo_image_surface_get_stride(g->frame_surf) / 4;
    otf_gui_render(g->pyr, &g->view, g->lut, BACKGROUND, px, stride);
    cairo_surface_mark_dirty(g->frame_surf);
    g->frame_dirty = 0;
}

/* Overlay in device pixels: detections, the selected one, the region of interest. */
static void draw_overlay(struct otf_gui *g, cairo_t *cr, double lw)
{
    int64_t vis[4];
    if (g->cat && otf_gui_view_visible(&g->view, g->pyr->w, g->pyr->h, vis)) {
        for (size_t i = 0; i < g->cat->n_rows; i++) {
            struct otf_gui_shape s;
            double sx, sy, obj;
            uint32_t c;
            if (!otf_gui_catalog_visible(g->cat, i, g->min_obj) ||
                otf_gui_catalog_shape(g->cat, i, &s) != 0)
                continue;
            if (s.cx + s.a + s.b < (double)vis[0] - 1 || s.cx - s.a - s.b > (double)vis[2] + 1 ||
                s.cy + s.a + s.b < (double)vis[1] - 1 || s.cy - s.a - s.b > (double)vis[3] + 1)
                continue;
            obj = otf_gui_catalog_get(g->cat, i, OTF_GUI_ROLE_OBJECTNESS);
            c = otf_gui_obj_colour(isfinite(obj) ? obj : 1, g->min_obj);
            otf_gui_view_from_image(&g->view, s.cx, s.cy, &sx, &sy);
            cairo_save(cr);
            cairo_translate(cr, sx, sy);
            /* image y is up, widget y is down: angles change sign */
            cairo_rotate(cr, -s.angle);
            cairo_scale(cr, fmax(s.a * g->view.zoom, 1.5), fmax(s.b * g->view.zoom, 1.5));
            if (s.is_ellipse)
                cairo_arc(cr, 0, 0, 1, 0, 2 * M_PI);
            else
                cairo_rectangle(cr, -1, -1, 2, 2);
            cairo_restore(cr);
            if ((long)i == g->selected) {
                cairo_set_source_rgb(cr, 0, 0.9, 1);
                cairo_set_line_width(cr, 3 * lw);
            } else {
                cairo_set_source_rgb(cr, ((c >> 16) & 0xff) / 255.0, ((c >> 8) & 0xff) / 255.0,
                                     (c & 0xff) / 255.0);
                cairo_set_line_width(cr, lw);
            }
            cairo_stroke(cr);
        }
    }
    if (g->has_roi) {
        double x0, y0, x1, y1;
        otf_gui_view_from_image(&g->view, (double)g->roi[0] - 0.5, (double)g->roi[1] - 0.5, &x0,
                                &y0);
        otf_gui_view_from_image(&g->view, (double)g->roi[2] - 0.5, (double)g->roi[3] - 0.5, &x1,
                                &y1);
        cairo_set_source_rgb(cr, 0, 0.8, 1);
        cairo_set_line_width(cr, lw);
        cairo_set_dash(cr, (double[]){6 * lw, 4 * lw}, 2, 0);
        cairo_rectangle(cr, x0, y1, x1 - x0, y0 - y1);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    if (g->dragging && g->roi_mode) {
        int s = scale_of(g);
        cairo_set_source_rgb(cr, 1, 1, 0);
        cairo_set_line_width(cr, lw);
        cairo_rectangle(cr, fmin(g->drag_x0, g->drag_x1) * s, fmin(g->drag_y0, g->drag_y1) * s,
                        fabs(g->drag_x1 - g->drag_x0) * s, fabs(g->drag_y1 - g->drag_y0) * s);
        cairo_stroke(cr);
    }
}

static void draw_cb(GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
    struct otf_gui *g = data;
    int s = scale_of(g), dw = width * s, dh = height * s;
    (void)area;

    cairo_set_source_rgb(cr, 0.19, 0.19, 0.19);
    cairo_paint(cr);
    if (!g->pyr)
        return;
    if (g->view.w == 0)
        otf_gui_view_fit(&g->view, g->pyr->w, g->pyr->h, dw, dh);
    if (g->view.w != dw || g->view.h != dh) {
        g->view.w = dw;
        g->view.h = dh;
        g->frame_dirty = 1;
    }
    render_frame(g, dw, dh);
    /* work in device pixels: one image sample per screen pixel on HiDPI */
    cairo_save(cr);
    cairo_scale(cr, 1.0 / s, 1.0 / s);
    cairo_set_source_surface(cr, g->frame_surf, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
    draw_overlay(g, cr, 1.0 * s);
    cairo_restore(cr);
}

enum otf_status otf_gui_save_png(struct otf_gui *g, const char *path, GError **error)
{
    cairo_surface_t *out;
    cairo_t *cr;
    cairo_status_t st;
    if (!g->pyr || !g->frame_surf) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "no image shown");
        return OTF_E_STATE;
    }
    render_frame(g, g->view.w, g->view.h);
    out = cairo_image_surface_create(CAIRO_FORMAT_RGB24, g->view.w, g->view.h);
    cr = cairo_create(out);
    cairo_set_source_surface(cr, g->frame_surf, 0, 0);
    cairo_paint(cr);
    draw_overlay(g, cr, scale_of(g));
    cairo_destroy(cr);
    st = cairo_surface_write_to_png(out, path);
    cairo_surface_destroy(out);
    if (st != CAIRO_STATUS_SUCCESS) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s", cairo_status_to_string(st));
        return OTF_E_IO;
    }
    return OTF_OK;
}

/* ---- pointer and keys ---- */

static void show_coords(struct otf_gui *g, double lx, double ly)
{
    int s = scale_of(g);
    double x, y;
    int64_t ix, iy;
    char buf[512], ra[32] = "", dec[32] = "";
    float v;

    if (!g->pyr)
        return;
    otf_gui_view_to_image(&g->view, lx * s, ly * s, &x, &y);
    ix = (int64_t)floor(x + 0.5);
    iy = (int64_t)floor(y + 0.5);
    if (ix < 0 || iy < 0 || ix >= g->pyr->w || iy >= g->pyr->h) {
        gtk_label_set_text(GTK_LABEL(g->coords), "");
        return;
    }
    v = otf_gui_pyramid_value(g->pyr, ix, iy);
    if (g->wcs) {
        double xy[2] = {x, y}, sky[2];
        if (otf_fits_pix_to_sky(g->wcs, 1, xy, sky, NULL) == OTF_OK && isfinite(sky[0])) {
            int eq = strcmp(g->frame, "GALACTIC") != 0 && strcmp(g->frame, "ECLIPTIC") != 0 &&
                     strcmp(g->frame, "SUPERGALACTIC") != 0;
            if (eq) {
                char a[24], d[24];
                otf_gui_format_ra(sky[0], a, sizeof a);
                otf_gui_format_dec(sky[1], d, sizeof d);
                snprintf(ra, sizeof ra, "RA %s", a);
                snprintf(dec, sizeof dec, "Dec %s", d);
            } else {
                snprintf(ra, sizeof ra, "lon %.5f", sky[0]);
                snprintf(dec, sizeof dec, "lat %+.5f", sky[1]);
            }
        }
    }
    {
        char val[128];
        if (isnan(v))
            snprintf(val, sizeof val, "NaN (blank)");
        else
            snprintf(val, sizeof val, "%.5g %s", (double)v, g->bunit);
        snprintf(buf, sizeof buf, "x %lld  y %lld  %s  %s  %s  %s  zoom %.3g%s", (long long)ix,
                 (long long)iy, val, ra, dec, g->frame, g->view.zoom / s,
                 g->pyr->base ? " (reduced resolution)" : "");
    }
    gtk_label_set_text(GTK_LABEL(g->coords), buf);
}

static void motion_cb(GtkEventControllerMotion *c, double x, double y, gpointer data)
{
    (void)c;
    show_coords(data, x, y);
}

static gboolean scroll_cb(GtkEventControllerScroll *c, double dx, double dy, gpointer data)
{
    struct otf_gui *g = data;
    double px, py;
    int s = scale_of(g);
    GdkEvent *ev = gtk_event_controller_get_current_event(GTK_EVENT_CONTROLLER(c));
    (void)dx;
    if (!g->pyr || !ev || !gdk_event_get_position(ev, &px, &py))
        return FALSE;
    otf_gui_view_zoom_at(&g->view, pow(1.2, -dy), px * s, py * s);
    otf_gui_redraw(g, 1);
    show_coords(g, px, py);
    return TRUE;
}

static void drag_begin_cb(GtkGestureDrag *d, double x, double y, gpointer data)
{
    struct otf_gui *g = data;
    (void)d;
    g->dragging = 1;
    g->drag_x0 = g->drag_x1 = x;
    g->drag_y0 = g->drag_y1 = y;
    g->drag_view = g->view;
    gtk_widget_grab_focus(g->canvas);
}

static void drag_update_cb(GtkGestureDrag *d, double ox, double oy, gpointer data)
{
    struct otf_gui *g = data;
    int s = scale_of(g);
    (void)d;
    g->drag_x1 = g->drag_x0 + ox;
    g->drag_y1 = g->drag_y0 + oy;
    if (!g->pyr)
        return;
    if (g->roi_mode) {
        otf_gui_redraw(g, 0);
        return;
    }
    g->view.cx = g->drag_view.cx;
    g->view.cy = g->drag_view.cy;
    otf_gui_view_pan(&g->view, ox * s, oy * s);
    otf_gui_view_clamp(&g->view, g->pyr->w, g->pyr->h);
    otf_gui_redraw(g, 1);
}

static void drag_end_cb(GtkGestureDrag *d, double ox, double oy, gpointer data)
{
    struct otf_gui *g = data;
    int s = scale_of(g);
    (void)d;
    g->dragging = 0;
    if (!g->pyr)
        return;
    if (g->roi_mode && (fabs(ox) > 3 || fabs(oy) > 3)) {
        double xa, ya, xb, yb;
        int64_t roi[4];
        otf_gui_view_to_image(&g->view, g->drag_x0 * s, g->drag_y0 * s, &xa, &ya);
        otf_gui_view_to_image(&g->view, (g->drag_x0 + ox) * s, (g->drag_y0 + oy) * s, &xb, &yb);
        if (otf_gui_roi_from_drag(xa, ya, xb, yb, g->pyr->w, g->pyr->h, roi) == 0) {
            char txt[96];
            memcpy(g->roi, roi, sizeof roi);
            g->has_roi = 1;
            snprintf(txt, sizeof txt, "ROI %lld,%lld,%lld,%lld", (long long)roi[0],
                     (long long)roi[1], (long long)roi[2], (long long)roi[3]);
            gtk_label_set_text(GTK_LABEL(g->roi_label), txt);
        }
        g->roi_mode = 0;
        otf_gui_set_status(g, "region of interest set; Submit sends only this region");
    }
    otf_gui_redraw(g, 0);
}

static void click_cb(GtkGestureClick *c, int n_press, double x, double y, gpointer data)
{
    struct otf_gui *g = data;
    int s = scale_of(g);
    long row;
    (void)c;
    if (!g->pyr || !g->cat || g->roi_mode)
        return;
    if (n_press == 2) {
        otf_gui_view_zoom_at(&g->view, 2, x * s, y * s);
        otf_gui_redraw(g, 1);
        return;
    }
    row = otf_gui_catalog_hit(g->cat, &g->view, x * s, y * s, g->min_obj, 6.0 * s);
    otf_gui_select_row(g, row, 1);
}

static gboolean key_cb(GtkEventControllerKey *k, guint keyval, guint code, GdkModifierType st,
                       gpointer data)
{
    struct otf_gui *g = data;
    double step;
    (void)k, (void)code;
    if (st & (GDK_CONTROL_MASK | GDK_ALT_MASK))
        return FALSE;
    if (!g->pyr)
        return FALSE;
    step = g->view.w / 8.0;
    switch (keyval) {
    case GDK_KEY_plus:
    case GDK_KEY_equal:
    case GDK_KEY_KP_Add:
        otf_gui_zoom(g, 1.5);
        return TRUE;
    case GDK_KEY_minus:
    case GDK_KEY_KP_Subtract:
        otf_gui_zoom(g, 1 / 1.5);
        return TRUE;
    case GDK_KEY_0:
        otf_gui_fit(g);
        return TRUE;
    case GDK_KEY_1:
        g->view.zoom = scale_of(g);
        otf_gui_redraw(g, 1);
        return TRUE;
    case GDK_KEY_Left:
    case GDK_KEY_Right:
    case GDK_KEY_Up:
    case GDK_KEY_Down:
        otf_gui_view_pan(&g->view,
                         keyval == GDK_KEY_Left ? step : (keyval == GDK_KEY_Right ? -step : 0),
                         keyval == GDK_KEY_Up ? step : (keyval == GDK_KEY_Down ? -step : 0));
        otf_gui_view_clamp(&g->view, g->pyr->w, g->pyr->h);
        otf_gui_redraw(g, 1);
        return TRUE;
    case GDK_KEY_r:
        g->roi_mode = !g->roi_mode;
        otf_gui_set_status(g, g->roi_mode ? "drag a box on the image to set the region of interest"
                                          : "region drawing off");
        return TRUE;
    case GDK_KEY_Escape:
        if (g->has_roi || g->roi_mode) {
            g->has_roi = g->roi_mode = 0;
            gtk_label_set_text(GTK_LABEL(g->roi_label), "whole image");
            otf_gui_redraw(g, 0);
        } else {
            otf_gui_select_row(g, -1, 1);
        }
        return TRUE;
    default:
        return FALSE;
    }
}

static gboolean drop_cb(GtkDropTarget *t, const GValue *value, double x, double y, gpointer data)
{
    struct otf_gui *g = data;
    GSList *files;
    (void)t, (void)x, (void)y;
    if (!G_VALUE_HOLDS(value, GDK_TYPE_FILE_LIST))
        return FALSE;
    files = gdk_file_list_get_files(g_value_get_boxed(value));
    if (files) {
        char *p = g_file_get_path(files->data);
        if (p)
            otf_gui_open_image(g, p, NULL);
        g_free(p);
    }
    g_slist_free(files);
    return TRUE;
}

static void scale_changed_cb(GObject *o, GParamSpec *ps, gpointer data)
{
    struct otf_gui *g = data;
    (void)o, (void)ps;
    g->view.w = 0; /* refit in the new device pixels */
    otf_gui_redraw(g, 1);
}

GtkWidget *otf_gui_canvas_new(struct otf_gui *g)
{
    GtkWidget *area = gtk_drawing_area_new();
    GtkEventController *ec;
    GtkGesture *ge;
    GtkDropTarget *drop;

    g->canvas = area;
    gtk_widget_set_hexpand(area, TRUE);
    gtk_widget_set_vexpand(area, TRUE);
    gtk_widget_set_focusable(area, TRUE);
    gtk_widget_set_size_request(area, 320, 240);
    gtk_drawing_area_set_draw_func(GTK_DRAWING_AREA(area), draw_cb, g, NULL);
    gtk_accessible_update_property(GTK_ACCESSIBLE(area), GTK_ACCESSIBLE_PROPERTY_LABEL, "Image",
                                   -1);

    ec = gtk_event_controller_motion_new();
    g_signal_connect(ec, "motion", G_CALLBACK(motion_cb), g);
    gtk_widget_add_controller(area, ec);
    ec = gtk_event_controller_scroll_new(GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
    g_signal_connect(ec, "scroll", G_CALLBACK(scroll_cb), g);
    gtk_widget_add_controller(area, ec);
    ec = gtk_event_controller_key_new();
    g_signal_connect(ec, "key-pressed", G_CALLBACK(key_cb), g);
    gtk_widget_add_controller(area, ec);
    ge = gtk_gesture_drag_new();
    gtk_gesture_single_set_button(GTK_GESTURE_SINGLE(ge), GDK_BUTTON_PRIMARY);
    g_signal_connect(ge, "drag-begin", G_CALLBACK(drag_begin_cb), g);
    g_signal_connect(ge, "drag-update", G_CALLBACK(drag_update_cb), g);
    g_signal_connect(ge, "drag-end", G_CALLBACK(drag_end_cb), g);
    gtk_widget_add_controller(area, GTK_EVENT_CONTROLLER(ge));
    ge = gtk_gesture_click_new();
    g_signal_connect(ge, "released", G_CALLBACK(click_cb), g);
    gtk_widget_add_controller(area, GTK_EVENT_CONTROLLER(ge));
    drop = gtk_drop_target_new(GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
    g_signal_connect(drop, "drop", G_CALLBACK(drop_cb), g);
    gtk_widget_add_controller(area, GTK_EVENT_CONTROLLER(drop));
    g_signal_connect(area, "notify::scale-factor", G_CALLBACK(scale_changed_cb), g);
    return area;
}
