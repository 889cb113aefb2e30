/* otf-gui logic: what the GTK4 window computes that needs no GTK, unit-tested on its own
 * (tests/unit/gui). Display stretches and colour maps as a lookup table, the view transform
 * between widget and image pixels, a downsampled image pyramid so that each frame touches only
 * the pixels on screen, the catalogue read back from a VOTable with the overlay geometry of
 * each row, and the table <-> image selection helpers.
 *
 * Coordinates: image pixels are 0-based with pixel centres at integers (fits.h), x along NAXIS1,
 * y along NAXIS2 and drawn upwards (north up for a normal sky image). Widget pixels are device
 * pixels (logical pixels times the scale factor on HiDPI) with y downwards.
 *
 * Threads: everything here is plain data; a pyramid is built on one thread and then read-only,
 * and may then be read from any thread. Nothing holds global state.
 *
 *   struct otf_gui_view v = {0};
 *   otf_gui_view_fit(&v, img_w, img_h, widget_w, widget_h);
 *   otf_gui_lut_build(&lut, lo, hi, OTF_GUI_STRETCH_ASINH, OTF_GUI_CMAP_GREY, 0);
 *   otf_gui_render(pyr, &v, &lut, argb, stride_px);
 */
#ifndef OTF_GUI_LOGIC_H
#define OTF_GUI_LOGIC_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ---- stretches and colour maps ---- */

enum otf_gui_stretch {
    OTF_GUI_STRETCH_LINEAR = 0,
    OTF_GUI_STRETCH_SQRT = 1,
    OTF_GUI_STRETCH_ASINH = 2,
    OTF_GUI_STRETCH_LOG = 3,
    OTF_GUI_STRETCH__COUNT
};

/* How the display limits lo/hi are chosen from a sample of the image's finite pixels. */
enum otf_gui_limits {
    OTF_GUI_LIMITS_ZSCALE = 0, /* IRAF zscale (contrast 0.25) */
    OTF_GUI_LIMITS_P995 = 1,   /* 0.25 / 99.75 percentiles (99.5 % of the pixels) */
    OTF_GUI_LIMITS_P99 = 2,    /* 0.5 / 99.5 */
    OTF_GUI_LIMITS_P95 = 3,    /* 2.5 / 97.5 */
    OTF_GUI_LIMITS_MINMAX = 4,
    OTF_GUI_LIMITS__COUNT
};

enum otf_gui_cmap {
    OTF_GUI_CMAP_GREY = 0,
    OTF_GUI_CMAP_INFERNO = 1,
    OTF_GUI_CMAP_VIRIDIS = 2,
    OTF_GUI_CMAP_HEAT = 3,
    OTF_GUI_CMAP_COOL = 4,
    OTF_GUI_CMAP__COUNT
};

/* Names for menus and the settings file ("linear", "zscale", "grey", ...); never NULL. */
const char *otf_gui_stretch_name(enum otf_gui_stretch s);
const char *otf_gui_limits_name(enum otf_gui_limits l);
const char *otf_gui_cmap_name(enum otf_gui_cmap c);
/* Name -> value; -1 when unknown. */
int otf_gui_stretch_parse(const char *s);
int otf_gui_limits_parse(const char *s);
int otf_gui_cmap_parse(const char *s);

/* The stretch function on t in [0, 1] (values outside are clamped) -> [0, 1], monotonic, with
 * f(0) = 0 and f(1) = 1. */
double otf_gui_stretch_apply(enum otf_gui_stretch s, double t);

#define OTF_GUI_LUT_SIZE 4096

/* Pixel value -> 0xAARRGGBB (cairo ARGB32, opaque) through lo/hi, stretch and colour map. */
struct otf_gui_lut {
    double lo, hi; /* display limits, image units (hi > lo) */
    double scale;  /* (OTF_GUI_LUT_SIZE - 1) / (hi - lo) */
    uint32_t nan;  /* colour of NaN/blank pixels: distinct from every map colour */
    uint32_t table[OTF_GUI_LUT_SIZE];
};

/* Fills `lut`. When hi <= lo (a flat image) hi is taken as lo + 1. `invert` reverses the map. */
void otf_gui_lut_build(struct otf_gui_lut *lut, double lo, double hi, enum otf_gui_stretch s,
                       enum otf_gui_cmap c, int invert);

/* The colour of one value. */
static inline uint32_t otf_gui_lut_map(const struct otf_gui_lut *lut, float v)
{
    double i;
    if (v != v)
        return lut->nan;
    i = ((double)v - lut->lo) * lut->scale;
    if (i <= 0)
        return lut->table[0];
    if (i >= OTF_GUI_LUT_SIZE - 1)
        return lut->table[OTF_GUI_LUT_SIZE - 1];
    return lut->table[(int)(i + 0.5)];
}

/* Display limits from `n` values (NaN ignored; `v` is reordered). Returns 0 and fills lo < hi,
 * or -1 when no value is finite. A constant image gives lo = v, hi = v + 1. */
int otf_gui_limits_compute(float *v, size_t n, enum otf_gui_limits mode, double *lo, double *hi);

/* ---- view transform ---- */

#define OTF_GUI_ZOOM_MIN (1.0 / 1024.0)
#define OTF_GUI_ZOOM_MAX 256.0

/* Which image point is at the centre of the widget and how large an image pixel is. */
struct otf_gui_view {
    double cx, cy; /* image position shown at the widget centre, pixels */
    double zoom;   /* widget (device) pixels per image pixel */
    int w, h;      /* widget size, device pixels */
};

void otf_gui_view_to_image(const struct otf_gui_view *v, double sx, double sy, double *x,
                           double *y);
void otf_gui_view_from_image(const struct otf_gui_view *v, double x, double y, double *sx,
                             double *sy);
/* Zoom to fit a w x h image in the widget, centred. */
void otf_gui_view_fit(struct otf_gui_view *v, int64_t img_w, int64_t img_h, int widget_w,
                      int widget_h);
/* Multiplies the zoom by `factor` (clamped to OTF_GUI_ZOOM_MIN..MAX) keeping the image point
 * under widget position (sx, sy) where it is. */
void otf_gui_view_zoom_at(struct otf_gui_view *v, double factor, double sx, double sy);
/* Moves the image by (dsx, dsy) widget pixels (a drag). */
void otf_gui_view_pan(struct otf_gui_view *v, double dsx, double dsy);
/* Keeps the view centre inside the image (a w x h image), so it cannot be lost off screen. */
void otf_gui_view_clamp(struct otf_gui_view *v, int64_t img_w, int64_t img_h);
/* The pyramid level to draw from: the coarsest level L (0..n_levels-1) whose pixels are still
 * no larger than a widget pixel (2^L <= 1/zoom). */
int otf_gui_view_level(const struct otf_gui_view *v, int n_levels);
/* The image box [x0, x1) x [y0, y1) (integer pixels, clipped to w x h) visible in the view;
 * returns 0 when nothing of the image is visible. */
int otf_gui_view_visible(const struct otf_gui_view *v, int64_t img_w, int64_t img_h,
                         int64_t box[4]);

/* ---- pyramid ---- */

#define OTF_GUI_MAX_LEVELS 20

/* Level L holds 2^L x 2^L block means of the finite pixels (NaN when a block has none). */
struct otf_gui_level {
    int64_t w, h; /* pixels of this level: ceil(img / 2^L) */
    float *data;  /* [h][w] row-major, y upwards like the image; NULL below the base level */
};

struct otf_gui_pyramid {
    int64_t w, h; /* image size, pixels */
    int n_levels; /* levels 0..n_levels-1; the last one fits in 512x512 */
    int base;     /* finest level held in memory (0 unless the image exceeds the budget) */
    struct otf_gui_level levels[OTF_GUI_MAX_LEVELS];
};

/* Reads image rows y0 <= y < y0 + n (row-major, `w` floats each) into `out`; 0 on success. */
typedef int otf_gui_read_rows_fn(void *user, int64_t y0, int64_t n, float *out);
/* Progress of a build: rows read of all; return nonzero to cancel. */
typedef int otf_gui_progress_fn(void *user, int64_t done, int64_t total);

/* Builds the pyramid of a w x h image read in bands of rows through `read`, in one pass: each
 * finished row of a level is averaged into the next. Levels whose size exceeds `budget_bytes`
 * (all held levels together) are not kept: `base` says the finest one held. *out is written
 * only on success (free with otf_gui_pyramid_free). Errors: OTF_E_INVAL (sizes),
 * OTF_E_NOMEM, OTF_E_IO (a read failed), OTF_E_STATE ("cancelled"). */
enum otf_status otf_gui_pyramid_build(int64_t w, int64_t h, otf_gui_read_rows_fn *read, void *user,
                                      size_t budget_bytes, otf_gui_progress_fn *progress,
                                      void *progress_user, struct otf_gui_pyramid **out,
                                      struct otf_errbuf *eb);
void otf_gui_pyramid_free(struct otf_gui_pyramid *p);

/* The value of image pixel (x, y) at the finest held level (NaN outside the image). */
float otf_gui_pyramid_value(const struct otf_gui_pyramid *p, int64_t x, int64_t y);

/* Up to `n` values spread over the coarsest level with at least `n` pixels (for the display
 * limits); returns how many were written. */
size_t otf_gui_pyramid_sample(const struct otf_gui_pyramid *p, float *out, size_t n);

/* Draws the view into `argb` (v->h rows of `stride_px` uint32, cairo ARGB32): each widget pixel
 * takes the nearest pixel of the level chosen by otf_gui_view_level (never finer than the
 * base); outside the image is `background`. Work is proportional to the widget size only. */
void otf_gui_render(const struct otf_gui_pyramid *p, const struct otf_gui_view *v,
                    const struct otf_gui_lut *lut, uint32_t background, uint32_t *argb,
                    int stride_px);

/* ---- sky coordinates ---- */

/* "hh:mm:ss.ss" for a right ascension and "+dd:mm:ss.s" for a declination (deg); "" for
 * NaN. `out` holds at least 24 bytes. */
void otf_gui_format_ra(double ra_deg, char *out, size_t n);
void otf_gui_format_dec(double dec_deg, char *out, size_t n);

/* ---- catalogue ---- */

/* Columns the GUI gives a meaning to (found by FIELD name). */
enum otf_gui_role {
    OTF_GUI_ROLE_ID = 0,
    OTF_GUI_ROLE_RA,
    OTF_GUI_ROLE_DEC,
    OTF_GUI_ROLE_X,
    OTF_GUI_ROLE_Y,
    OTF_GUI_ROLE_WIDTH,
    OTF_GUI_ROLE_HEIGHT,
    OTF_GUI_ROLE_OBJECTNESS,
    OTF_GUI_ROLE_BMAJ,
    OTF_GUI_ROLE_BMIN,
    OTF_GUI_ROLE_PA,
    OTF_GUI_ROLE__COUNT
};

struct otf_gui_column {
    char *name;
    char *unit;     /* "" when none */
    char *datatype; /* VOTable datatype ("double", "long", "char", ...) */
};

/* A catalogue as numbers: every cell a double, NaN when null or not a number. */
struct otf_gui_catalog {
    size_t n_rows, n_cols;
    struct otf_gui_column *cols;   /* [n_cols] */
    double *v;                     /* [n_rows][n_cols] */
    int role[OTF_GUI_ROLE__COUNT]; /* column of each role, -1 when absent */
    /* Overlay geometry, filled by otf_gui_catalog_set_sky(); without it rows are boxes. */
    double arcsec_per_pix; /* NaN when unknown */
    double *major_angle;   /* [n_rows] image angle of the major axis, rad from +x
                              towards +y; NULL until set */
};

/* Reads the first TABLE of a VOTable (TABLEDATA) with libxml2: FIELDs by name, rows as
 * numbers. XML is parsed without network access or entity expansion. *out is written only on
 * success. Errors: OTF_E_IO (file), OTF_E_FORMAT (not a VOTable, no TABLE, BINARY/FITS
 * serialisation, a row with the wrong number of cells), OTF_E_LIMIT (> 2^26 cells). */
enum otf_status otf_gui_catalog_read_votable(const char *path, struct otf_gui_catalog **out,
                                             struct otf_errbuf *eb);
/* Same from memory (`buf` borrowed). */
enum otf_status otf_gui_catalog_parse_votable(const char *buf, size_t len,
                                              struct otf_gui_catalog **out, struct otf_errbuf *eb);
void otf_gui_catalog_free(struct otf_gui_catalog *cat);

/* Cell value; NaN for a missing role or column. */
double otf_gui_catalog_get(const struct otf_gui_catalog *cat, size_t row, enum otf_gui_role r);

/* Image angle (rad from +x towards +y) of a position angle east of north, given the image
 * directions (angles, rad) of north and east at that place. Works for either parity. */
double otf_gui_pa_to_image_angle(double pa_deg, double north_rad, double east_rad);

/* Sets the overlay geometry: the pixel scale (arcsec/pixel) and, per row, the image angles of
 * north and east (arrays of n_rows; NULL = north up, east left). */
void otf_gui_catalog_set_sky(struct otf_gui_catalog *cat, double arcsec_per_pix,
                             const double *north_rad, const double *east_rad);

/* What is drawn for one row, in image pixels. */
struct otf_gui_shape {
    int is_ellipse; /* 1: ellipse of semi-axes a, b; 0: box of half-sizes a (x), b (y) */
    double cx, cy;
    double a, b;
    double angle; /* rad, from +x towards +y: the ellipse's major axis (0 for boxes) */
};

/* The shape of a row: an ellipse of half the bmaj/bmin FWHM at the PA when both sizes are
 * present and the pixel scale is known, else the detection box. Returns -1 when the row has
 * no pixel position. */
int otf_gui_catalog_shape(const struct otf_gui_catalog *cat, size_t row, struct otf_gui_shape *s);

/* 1 when the row passes the objectness filter (rows without objectness always pass). */
int otf_gui_catalog_visible(const struct otf_gui_catalog *cat, size_t row, double min_obj);

/* Table order: compares rows a and b on column `col` (numbers ascending, NaN last; ties by
 * row index so that the order is total). Returns <0, 0 (a == b only), >0. */
int otf_gui_catalog_compare(const struct otf_gui_catalog *cat, size_t col, size_t a, size_t b);

/* Image -> table: the visible row whose shape holds the widget point (sx, sy), or lies within
 * `slop_px` widget pixels of it, the nearest centre first (ties: higher objectness). -1 when
 * none. */
long otf_gui_catalog_hit(const struct otf_gui_catalog *cat, const struct otf_gui_view *v, double sx,
                         double sy, double min_obj, double slop_px);

/* Table -> image: centres the view on the row; when `min_zoom` > the zoom, zooms in to it.
 * Returns -1 when the row has no pixel position. */
int otf_gui_view_center_on(struct otf_gui_view *v, const struct otf_gui_catalog *cat, size_t row,
                           double min_zoom);

/* Overlay colour for an objectness in [min_obj, 1]: red (at min_obj) to green (at 1), as
 * 0xRRGGBB. */
uint32_t otf_gui_obj_colour(double obj, double min_obj);

/* ---- region of interest ---- */

/* The pixel box [x0, y0, x1, y1) (end exclusive, clipped to w x h) spanned by two image
 * positions (a drag); returns -1 when it holds no pixel. */
int otf_gui_roi_from_drag(double xa, double ya, double xb, double yb, int64_t w, int64_t h,
                          int64_t roi[4]);

#endif
