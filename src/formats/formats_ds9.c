/* formats: DS9 region files (SAOImage DS9 region format 4.1; ivoa.md §7). Sky frames get sky
 * shapes with sizes in arcsec; an ellipse's radii are semi-axes (half the predicted FWHM) and
 * its angle is PA + 90 deg (DS9 measures from the first axis, PA runs east of north). Images
 * without a usable celestial frame get 1-based image coordinates. */
#include <math.h>
#include <string.h>

#include "formats/formats_int.h"

static double wrap360(double a)
{
    a = fmod(a, 360.0);
    return a < 0 ? a + 360.0 : a;
}

/* A line being built; len may pass cap (then the line is refused). */
struct linebuf {
    char *buf;
    size_t cap, len;
};

static void lb_str(struct linebuf *lb, const char *s)
{
    size_t n = strlen(s);
    if (lb->len + n < lb->cap) { /* room for the NUL too, as snprintf would want */
        memcpy(lb->buf + lb->len, s, n + 1);
    }
    lb->len += n; /* past cap: refused */
}

/* A non-negative integer in decimal. */
static void lb_uint(struct linebuf *lb, unsigned long long v)
{
    char tmp[24];
    size_t k = sizeof tmp;
    tmp[--k] = '\0';
    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    lb_str(lb, tmp + k);
}

static void lb_num(struct linebuf *lb, double v, int decimals, const char *after)
{
    if (lb->len < lb->cap)
        lb->len += (size_t)otf_fmt_fixed(lb->buf + lb->len, lb->cap - lb->len, v, decimals);
    lb_str(lb, after);
}

enum otf_status otf_formats_write_ds9(FILE *f, const struct otf_detect_catalog *cat,
                                      const struct otf_formats_run_info *info,
                                      struct otf_errbuf *eb)
{
    const char *sys = cat->has_sky ? formats_ds9_system(cat->frame) : NULL;
    const double scale = cat->pixel_scale_deg * 3600.0; /* arcsec per pixel */
    const int c_bmaj = formats_find_col(cat, "bmaj"), c_bmin = formats_find_col(cat, "bmin");
    const int c_pa = formats_find_col(cat, "pa");

    fprintf(f, "# Region file format: DS9 version 4.1\n");
    fprintf(f, "# %s: %zu detections", info->software, cat->n);
    if (info->input_name)
        fprintf(f, " in %s", info->input_name);
    if (info->model_id)
        fprintf(f, " with model %s", info->model_id);
    if (info->job_id)
        fprintf(f, " (job %s)", info->job_id);
    fprintf(f, "\n");
    fprintf(f, "global color=green dashlist=8 3 width=1 font=\"helvetica 10 normal roman\" "
               "select=1 highlite=1 dash=0 fixed=0 edit=1 move=1 delete=1 include=1 source=1\n");
    fprintf(f, "%s\n", sys ? sys : "image");
    for (size_t i = 0; i < cat->n; i++) {
        const struct otf_detection *d = &cat->rows[i];
        const float *v = cat->values + i * cat->n_cols;
        double bmaj = c_bmaj >= 0 ? v[c_bmaj] : NAN, bmin = c_bmin >= 0 ? v[c_bmin] : NAN;
        double pa = c_pa >= 0 ? v[c_pa] : 0.0;
        int ellipse = isfinite(bmaj) && isfinite(bmin) && bmaj > 0 && bmin > 0;

        /* one line per detection, numbers through otf_fmt_fixed (as "%.Nf", faster) */
        char line[512];
        struct linebuf lb = {line, sizeof line, 0};
        if (sys && isfinite(d->lon) && isfinite(d->lat)) {
            lb_str(&lb, ellipse ? "ellipse(" : "box(");
            lb_num(&lb, wrap360(d->lon), 7, ",");
            lb_num(&lb, d->lat, 7, ",");
            if (ellipse) {
                lb_num(&lb, bmaj / 2, 4, "\",");
                lb_num(&lb, bmin / 2, 4, "\",");
                lb_num(&lb, wrap360((isfinite(pa) ? pa : 0.0) + 90.0), 3, ")");
            } else {
                lb_num(&lb, d->width * scale, 4, "\",");
                lb_num(&lb, d->height * scale, 4, "\",");
                lb_num(&lb, wrap360(isfinite(d->yaxis_pa_deg) ? d->yaxis_pa_deg : 0.0), 3, ")");
            }
        } else if (sys) {
            continue; /* no sky position for this row (off the projection) */
        } else {
            double pai = isfinite(d->pa_image_deg) ? d->pa_image_deg : 0.0;
            int ell = ellipse && isfinite(scale) && scale > 0;
            lb_str(&lb, ell ? "ellipse(" : "box(");
            lb_num(&lb, d->x + 1, 3, ",");
            lb_num(&lb, d->y + 1, 3, ",");
            if (ell) {
                lb_num(&lb, bmaj / scale / 2, 3, ",");
                lb_num(&lb, bmin / scale / 2, 3, ",");
                lb_num(&lb, wrap360(pai + 90.0), 3, ")");
            } else {
                lb_num(&lb, d->width, 3, ",");
                lb_num(&lb, d->height, 3, ",0)");
            }
        }
        lb_str(&lb, " # text={");
        lb_uint(&lb, (unsigned long long)(d->id > 0 ? d->id : 0)); /* ids count from 1 */
        lb_str(&lb, d->is_partial ? "} color=yellow\n" : "}\n");
        if (lb.len >= lb.cap)
            return OTF_FAIL(eb, OTF_E_LIMIT, "region line %zu too long", i);
        fwrite(line, 1, lb.len, f);
    }
    if (fflush(f) != 0 || ferror(f))
        return OTF_FAIL(eb, OTF_E_IO, "region file write failed");
    return OTF_OK;
}
