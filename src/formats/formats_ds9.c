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

        if (sys && isfinite(d->lon) && isfinite(d->lat)) {
            if (ellipse)
                fprintf(f, "ellipse(%.7f,%.7f,%.4f\",%.4f\",%.3f)", wrap360(d->lon), d->lat,
                        bmaj / 2, bmin / 2, wrap360((isfinite(pa) ? pa : 0.0) + 90.0));
            else
                fprintf(f, "box(%.7f,%.7f,%.4f\",%.4f\",%.3f)", wrap360(d->lon), d->lat,
                        d->width * scale, d->height * scale,
                        wrap360(isfinite(d->yaxis_pa_deg) ? d->yaxis_pa_deg : 0.0));
        } else if (sys) {
            continue; /* no sky position for this row (off the projection) */
        } else {
            double pai = isfinite(d->pa_image_deg) ? d->pa_image_deg : 0.0;
            if (ellipse && isfinite(scale) && scale > 0)
                fprintf(f, "ellipse(%.3f,%.3f,%.3f,%.3f,%.3f)", d->x + 1, d->y + 1,
                        bmaj / scale / 2, bmin / scale / 2, wrap360(pai + 90.0));
            else
                fprintf(f, "box(%.3f,%.3f,%.3f,%.3f,0)", d->x + 1, d->y + 1, d->width, d->height);
        }
        fprintf(f, " # text={%lld}%s\n", (long long)d->id, d->is_partial ? " color=yellow" : "");
    }
    if (fflush(f) != 0 || ferror(f))
        return OTF_FAIL(eb, OTF_E_IO, "region file write failed");
    return OTF_OK;
}
