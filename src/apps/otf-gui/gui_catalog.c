/* otf-gui: the catalogue read back from a VOTable (FIELDs by name, TABLEDATA cells as numbers)
 * and what the window draws and selects from it: overlay shapes from the box or the
 * bmaj/bmin/pa columns, the objectness filter, table order and hit tests. */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/otf-gui/gui_logic.h"

#define MAX_CELLS ((size_t)1 << 26)

static const char *const role_names[OTF_GUI_ROLE__COUNT] = {
    "id", "ra", "dec", "x", "y", "width", "height", "objectness", "bmaj", "bmin", "pa",
};

void otf_gui_catalog_free(struct otf_gui_catalog *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->n_cols; i++) {
        free(cat->cols[i].name);
        free(cat->cols[i].unit);
        free(cat->cols[i].datatype);
    }
    free(cat->cols);
    free(cat->v);
    free(cat->major_angle);
    free(cat);
}

static int is_el(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *find_el(xmlNode *n, const char *name)
{
    for (; n; n = n->next) {
        xmlNode *f;
        if (is_el(n, name))
            return n;
        if (n->type == XML_ELEMENT_NODE && (f = find_el(n->children, name)))
            return f;
    }
    return NULL;
}

static char *prop(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    char *s = otf_xstrdup(v ? (const char *)v : "");
    xmlFree(v);
    return s;
}

/* A TD's text as a number: NaN when empty or not a number (VOTable nulls are empty cells). */
static double cell_value(xmlNode *td)
{
    xmlChar *t = xmlNodeGetContent(td);
    double v = NAN;
    if (t) {
        const char *s = (const char *)t;
        char *end;
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            s++;
        if (*s) {
            double d = strtod(s, &end);
            while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
                end++;
            if (end != s && *end == '\0')
                v = d;
            else if (strcmp(s, "true") == 0 || strcmp(s, "T") == 0)
                v = 1;
            else if (strcmp(s, "false") == 0 || strcmp(s, "F") == 0)
                v = 0;
        }
        xmlFree(t);
    }
    return v;
}

enum otf_status otf_gui_catalog_parse_votable(const char *buf, size_t len,
                                              struct otf_gui_catalog **out, struct otf_errbuf *eb)
{
    /* no network, no DTD loading, no entity substitution (DESIGN §8) */
    xmlDoc *doc = NULL;
    xmlNode *root, *table, *data, *td_parent;
    struct otf_gui_catalog *cat = NULL;
    enum otf_status rc = OTF_OK;
    size_t cap = 0;

    if (len > (size_t)1 << 31)
        return OTF_FAIL(eb, OTF_E_LIMIT, "catalogue larger than 2 GiB");
    doc = xmlReadMemory(buf, (int)len, "catalog.vot", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR);
    if (!doc)
        return OTF_FAIL(eb, OTF_E_FORMAT, "not an XML document");
    root = xmlDocGetRootElement(doc);
    if (!is_el(root, "VOTABLE")) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "not a VOTable");
        goto out;
    }
    table = find_el(root->children, "TABLE");
    if (!table) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "the VOTable has no TABLE");
        goto out;
    }
    cat = otf_xcalloc(1, sizeof *cat);
    cat->arcsec_per_pix = NAN;
    for (int r = 0; r < OTF_GUI_ROLE__COUNT; r++)
        cat->role[r] = -1;
    for (xmlNode *n = table->children; n; n = n->next) {
        if (!is_el(n, "FIELD"))
            continue;
        cat->cols = otf_xrealloc(cat->cols, (cat->n_cols + 1) * sizeof *cat->cols);
        cat->cols[cat->n_cols].name = prop(n, "name");
        cat->cols[cat->n_cols].unit = prop(n, "unit");
        cat->cols[cat->n_cols].datatype = prop(n, "datatype");
        for (int r = 0; r < OTF_GUI_ROLE__COUNT; r++)
            if (cat->role[r] < 0 && strcmp(cat->cols[cat->n_cols].name, role_names[r]) == 0)
                cat->role[r] = (int)cat->n_cols;
        cat->n_cols++;
    }
    if (cat->n_cols == 0) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "the TABLE has no FIELD");
        goto out;
    }
    data = NULL;
    for (xmlNode *n = table->children; n; n = n->next)
        if (is_el(n, "DATA"))
            data = n;
    td_parent = NULL;
    for (xmlNode *n = data ? data->children : NULL; n; n = n->next) {
        if (is_el(n, "TABLEDATA"))
            td_parent = n;
        else if (is_el(n, "BINARY") || is_el(n, "BINARY2") || is_el(n, "FITS")) {
            rc = OTF_FAIL(eb, OTF_E_FORMAT, "%s serialisation is not read (TABLEDATA only)",
                          (const char *)n->name);
            goto out;
        }
    }
    for (xmlNode *tr = td_parent ? td_parent->children : NULL; tr; tr = tr->next) {
        size_t c = 0;
        double *row;
        if (!is_el(tr, "TR"))
            continue;
        if ((cat->n_rows + 1) * cat->n_cols > MAX_CELLS) {
            rc = OTF_FAIL(eb, OTF_E_LIMIT, "catalogue larger than %zu cells", MAX_CELLS);
            goto out;
        }
        if (cat->n_rows == cap) {
            cap = cap ? cap * 2 : 256;
            cat->v = otf_xrealloc(cat->v, cap * cat->n_cols * sizeof(double));
        }
        row = cat->v + cat->n_rows * cat->n_cols;
        for (xmlNode *td = tr->children; td; td = td->next) {
            if (!is_el(td, "TD"))
                continue;
            if (c == cat->n_cols) {
                c++;
                break;
            }
            row[c++] = cell_value(td);
        }
        if (c != cat->n_cols) {
            rc = OTF_FAIL(eb, OTF_E_FORMAT, "row %zu has %s cells than the %zu FIELDs",
                          cat->n_rows + 1, c < cat->n_cols ? "fewer" : "more", cat->n_cols);
            goto out;
        }
        cat->n_rows++;
    }
    *out = cat;
    cat = NULL;
out:
    otf_gui_catalog_free(cat);
    xmlFreeDoc(doc);
    return rc;
}

enum otf_status otf_gui_catalog_read_votable(const char *path, struct otf_gui_catalog **out,
                                             struct otf_errbuf *eb)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    enum otf_status rc;

    if (!f)
        return OTF_FAIL(eb, OTF_E_IO, "cannot open the catalogue: %s", strerror(errno));
    for (;;) {
        size_t got;
        if (len == cap) {
            if (cap >= (size_t)1 << 31) {
                fclose(f);
                free(buf);
                return OTF_FAIL(eb, OTF_E_LIMIT, "catalogue larger than 2 GiB");
            }
            cap = cap ? cap * 2 : 1 << 16;
            buf = otf_xrealloc(buf, cap);
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        fclose(f);
        free(buf);
        return OTF_FAIL(eb, OTF_E_IO, "cannot read the catalogue");
    }
    fclose(f);
    rc = otf_gui_catalog_parse_votable(buf, len, out, eb);
    free(buf);
    return rc;
}

double otf_gui_catalog_get(const struct otf_gui_catalog *cat, size_t row, enum otf_gui_role r)
{
    int c = (unsigned)r < OTF_GUI_ROLE__COUNT ? cat->role[r] : -1;
    if (c < 0 || row >= cat->n_rows)
        return NAN;
    return cat->v[row * cat->n_cols + (size_t)c];
}

double otf_gui_pa_to_image_angle(double pa_deg, double north_rad, double east_rad)
{
    double pa = pa_deg * M_PI / 180.0;
    double x = cos(pa) * cos(north_rad) + sin(pa) * cos(east_rad);
    double y = cos(pa) * sin(north_rad) + sin(pa) * sin(east_rad);
    return atan2(y, x);
}

void otf_gui_catalog_set_sky(struct otf_gui_catalog *cat, double arcsec_per_pix,
                             const double *north_rad, const double *east_rad)
{
    cat->arcsec_per_pix = arcsec_per_pix;
    free(cat->major_angle);
    cat->major_angle = otf_xcalloc(cat->n_rows ? cat->n_rows : 1, sizeof(double));
    for (size_t i = 0; i < cat->n_rows; i++) {
        double pa = otf_gui_catalog_get(cat, i, OTF_GUI_ROLE_PA);
        double n = north_rad ? north_rad[i] : M_PI / 2, e = east_rad ? east_rad[i] : M_PI;
        cat->major_angle[i] = otf_gui_pa_to_image_angle(isfinite(pa) ? pa : 0.0, n, e);
    }
}

int otf_gui_catalog_shape(const struct otf_gui_catalog *cat, size_t row, struct otf_gui_shape *s)
{
    double x = otf_gui_catalog_get(cat, row, OTF_GUI_ROLE_X);
    double y = otf_gui_catalog_get(cat, row, OTF_GUI_ROLE_Y);
    double bmaj = otf_gui_catalog_get(cat, row, OTF_GUI_ROLE_BMAJ);
    double bmin = otf_gui_catalog_get(cat, row, OTF_GUI_ROLE_BMIN);
    double sc = cat->arcsec_per_pix;

    if (!isfinite(x) || !isfinite(y))
        return -1;
    s->cx = x;
    s->cy = y;
    if (isfinite(bmaj) && isfinite(bmin) && bmaj > 0 && bmin > 0 && isfinite(sc) && sc > 0 &&
        cat->major_angle) {
        /* bmaj/bmin are FWHM on the sky: semi-axes are half of them (as the DS9 writer) */
        s->is_ellipse = 1;
        s->a = bmaj / sc / 2;
        s->b = bmin / sc / 2;
        s->angle = cat->major_angle[row];
    } else {
        double w = otf_gui_catalog_get(cat, row, OTF_GUI_ROLE_WIDTH);
        double h = otf_gui_catalog_get(cat, row, OTF_GUI_ROLE_HEIGHT);
        s->is_ellipse = 0;
        s->a = isfinite(w) && w > 0 ? w / 2 : 1;
        s->b = isfinite(h) && h > 0 ? h / 2 : 1;
        s->angle = 0;
    }
    return 0;
}

int otf_gui_catalog_visible(const struct otf_gui_catalog *cat, size_t row, double min_obj)
{
    double o = otf_gui_catalog_get(cat, row, OTF_GUI_ROLE_OBJECTNESS);
    return cat->role[OTF_GUI_ROLE_OBJECTNESS] < 0 || !(o < min_obj);
}

int otf_gui_catalog_compare(const struct otf_gui_catalog *cat, size_t col, size_t a, size_t b)
{
    if (col < cat->n_cols && a < cat->n_rows && b < cat->n_rows) {
        double x = cat->v[a * cat->n_cols + col], y = cat->v[b * cat->n_cols + col];
        int nx = isnan(x), ny = isnan(y);
        if (nx != ny)
            return nx ? 1 : -1;
        if (!nx && x != y)
            return x < y ? -1 : 1;
    }
    return (a > b) - (a < b);
}

/* Distance of image point (px, py) from the shape in units of its size: <= 1 inside. */
static double shape_distance(const struct otf_gui_shape *s, double px, double py)
{
    double dx = px - s->cx, dy = py - s->cy;
    double c = cos(s->angle), sn = sin(s->angle);
    double u = dx * c + dy * sn, v = -dx * sn + dy * c;
    if (s->is_ellipse)
        return sqrt((u / s->a) * (u / s->a) + (v / s->b) * (v / s->b));
    return fmax(fabs(u) / s->a, fabs(v) / s->b);
}

long otf_gui_catalog_hit(const struct otf_gui_catalog *cat, const struct otf_gui_view *v, double sx,
                         double sy, double min_obj, double slop_px)
{
    double px, py, best_d = INFINITY, best_obj = -INFINITY;
    long best = -1;

    otf_gui_view_to_image(v, sx, sy, &px, &py);
    for (size_t i = 0; i < cat->n_rows; i++) {
        struct otf_gui_shape s;
        double d_centre, inside, obj;
        if (!otf_gui_catalog_visible(cat, i, min_obj) || otf_gui_catalog_shape(cat, i, &s) != 0)
            continue;
        d_centre = hypot(px - s.cx, py - s.cy) * v->zoom; /* widget pixels */
        inside = shape_distance(&s, px, py);
        if (!(inside <= 1.0) && !(d_centre <= slop_px))
            continue;
        obj = otf_gui_catalog_get(cat, i, OTF_GUI_ROLE_OBJECTNESS);
        obj = isfinite(obj) ? obj : 0;
        if (d_centre < best_d - 1e-9 || (fabs(d_centre - best_d) <= 1e-9 && obj > best_obj)) {
            best = (long)i;
            best_d = d_centre;
            best_obj = obj;
        }
    }
    return best;
}

int otf_gui_view_center_on(struct otf_gui_view *v, const struct otf_gui_catalog *cat, size_t row,
                           double min_zoom)
{
    double x = otf_gui_catalog_get(cat, row, OTF_GUI_ROLE_X);
    double y = otf_gui_catalog_get(cat, row, OTF_GUI_ROLE_Y);
    if (!isfinite(x) || !isfinite(y))
        return -1;
    v->cx = x;
    v->cy = y;
    if (v->zoom < min_zoom)
        v->zoom = min_zoom > OTF_GUI_ZOOM_MAX ? OTF_GUI_ZOOM_MAX : min_zoom;
    return 0;
}

uint32_t otf_gui_obj_colour(double obj, double min_obj)
{
    double t = min_obj < 1 ? (obj - min_obj) / (1 - min_obj) : 1;
    uint32_t r, g;
    t = isfinite(t) ? (t < 0 ? 0 : (t > 1 ? 1 : t)) : 1;
    /* red -> yellow -> green, staying bright on a dark image */
    r = (uint32_t)lround(255 * (t < 0.5 ? 1 : 2 * (1 - t)));
    g = (uint32_t)lround(255 * (t < 0.5 ? 2 * t : 1));
    return r << 16 | g << 8 | 0x20;
}

int otf_gui_roi_from_drag(double xa, double ya, double xb, double yb, int64_t w, int64_t h,
                          int64_t roi[4])
{
    /* pixel i spans [i - 0.5, i + 0.5): take every pixel whose centre lies in the drag box */
    double lo_x = fmin(xa, xb), hi_x = fmax(xa, xb), lo_y = fmin(ya, yb), hi_y = fmax(ya, yb);
    int64_t x0 = (int64_t)ceil(lo_x), x1 = (int64_t)floor(hi_x) + 1;
    int64_t y0 = (int64_t)ceil(lo_y), y1 = (int64_t)floor(hi_y) + 1;
    if (!isfinite(lo_x) || !isfinite(hi_x) || !isfinite(lo_y) || !isfinite(hi_y))
        return -1;
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > w ? w : x1;
    y1 = y1 > h ? h : y1;
    if (x1 <= x0 || y1 <= y0)
        return -1;
    roi[0] = x0, roi[1] = y0, roi[2] = x1, roi[3] = y1;
    return 0;
}
