/* otf-gui: the window's state and the functions its parts share. Everything in struct otf_gui
 * belongs to the GTK main thread; worker threads (image loading, uploads, WAITs, the offline
 * pipeline) get copies of what they need and hand their results back with g_idle_add(), so a
 * slow or absent server never blocks the window (DESIGN §9). */
#ifndef OTF_GUI_H
#define OTF_GUI_H

#include <gtk/gtk.h>
#include <stdatomic.h>

#include "apps/otf-gui/gui_logic.h"
#include "fits/fits.h"
#include "otf/otf_client.h"

/* One submission (one image) in flight; shared by the main thread and its worker through the
 * atomic flags only. */
struct otf_gui_sub {
    atomic_int cancel; /* set by the main thread: stop the upload / abort the job */
    atomic_int refs;   /* main thread + workers + messages in flight */
};

struct otf_gui {
    GtkApplication *app;
    GtkWindow *win;

    /* settings (remembered in ~/.config/otf/gui.ini) */
    char *url, *token, *models_dir, *model, *precision;
    enum otf_gui_stretch stretch;
    enum otf_gui_limits limits;
    enum otf_gui_cmap cmap;
    int invert;
    char *status_file; /* --status-file: state for scripts and tests, or NULL */

    /* image */
    char *path;    /* open FITS file, or NULL */
    char *hdu;     /* HDU spec of the open image ("" = default) */
    int hdu_index; /* 0-based HDU shown */
    struct otf_gui_pyramid *pyr;
    struct otf_fits_wcs *wcs; /* moved to this thread by the loader; NULL without WCS */
    char frame[16];
    char bunit[72];
    int loading;       /* a load is in flight */
    unsigned load_gen; /* ignores results of superseded loads */
    double lo, hi;     /* display limits */
    struct otf_gui_lut *lut;
    struct otf_gui_view view; /* device pixels */
    cairo_surface_t *frame_surf;
    int frame_dirty;
    int64_t roi[4];
    int has_roi, roi_mode, dragging;
    double drag_x0, drag_y0, drag_x1, drag_y1; /* widget logical px */
    struct otf_gui_view drag_view;

    /* catalogue */
    struct otf_gui_catalog *cat;
    char *cat_file;   /* the VOTable on disk (downloaded or written by the local pipeline) */
    char *reg_file;   /* DS9 regions on disk, or NULL */
    char *cat_source; /* "job ID" or "local model ID" */
    double min_obj;
    long selected; /* catalogue row, -1 none */
    int syncing;   /* selection being changed from the image */

    /* widgets */
    GtkWidget *canvas, *status, *coords, *progress, *rows_label, *obj_scale, *table;
    GtkWidget *url_entry, *token_entry, *model_dd, *prec_dd, *card_view, *roi_label;
    GtkWidget *submit_btn, *abort_btn, *jobs_box, *conn_label, *hdu_dd, *stretch_dd, *limits_dd,
        *cmap_dd, *job_label;
    GtkStringList *model_list; /* entries "ID" (server) or "local:ID" */
    GPtrArray *model_cards;    /* char * card JSON per entry, or a local description */
    GtkStringList *hdu_list;
    int n_hdus;
    int hdu_indices[64];
    GListStore *rows;
    GtkCustomFilter *filter;
    GtkSortListModel *sorted;
    GtkSingleSelection *selection;

    /* network */
    struct otf_gui_sub *sub; /* the submission started last, or NULL */
    char *job_id;            /* its job id */
    char *job_phase;
    int list_in_flight, models_in_flight;
    guint poll_source;
    char *net_status;  /* last network condition, "" when fine */
    char *status_text; /* current status line */
};

/* main.c */
void otf_gui_set_status(struct otf_gui *g, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void otf_gui_write_state(struct otf_gui *g);
void otf_gui_save_settings(struct otf_gui *g);
char *otf_gui_cache_path(const char *name);

/* gui_canvas.c */
GtkWidget *otf_gui_canvas_new(struct otf_gui *g);
void otf_gui_open_image(struct otf_gui *g, const char *path, const char *hdu);
void otf_gui_update_display(struct otf_gui *g); /* limits/stretch/cmap changed */
void otf_gui_redraw(struct otf_gui *g, int image_changed);
void otf_gui_fit(struct otf_gui *g);
void otf_gui_zoom(struct otf_gui *g, double factor);
void otf_gui_center_on_row(struct otf_gui *g, long row);
enum otf_status otf_gui_save_png(struct otf_gui *g, const char *path, GError **error);

/* gui_table.c */
GtkWidget *otf_gui_table_new(struct otf_gui *g);
/* Takes ownership of `cat`; files are copied paths (may be NULL). */
void otf_gui_set_catalog(struct otf_gui *g, struct otf_gui_catalog *cat, const char *cat_file,
                         const char *reg_file, const char *source);
void otf_gui_select_row(struct otf_gui *g, long row, int from_image);
guint otf_gui_table_rows(struct otf_gui *g);
void otf_gui_filter_changed(struct otf_gui *g);
void otf_gui_save_catalog(struct otf_gui *g, int regions);

/* gui_jobs.c */
void otf_gui_jobs_start(struct otf_gui *g); /* model list and job list polling */
void otf_gui_refresh_models(struct otf_gui *g);
void otf_gui_submit(struct otf_gui *g, char **paths, int n, int use_roi);
void otf_gui_abort(struct otf_gui *g);
void otf_gui_load_job(struct otf_gui *g, const char *job_id);

#endif
